using Broker.Core.Hosting;
using Broker.Core.AccessControl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// <c>PUT /acl/reload</c> (POST too): reads acl.conf and the password file again and swaps both in for new
    /// authorization and authentication decisions (EMQX's <c>emqx_ctl acl reload</c>). A file that cannot be used
    /// leaves the previous rules and users in force and answers 400 with its <c>file:line: problem</c>.
    /// </summary>
    private static void MapAcl(RouteGroupBuilder api, BuiltinAccessControl accessControl, ILogger logger) =>
        MapAclReload(api, accessControl, logger);

    /// <summary>
    /// The connections' authorization caches (<c>enable_acl_cache</c>): <c>DELETE /clients/{clientid}/acl_cache</c>
    /// empties one (EMQX 4), <c>DELETE /acl_cache</c> every one (the rules are taken as changed: subscriptions are
    /// authorized again too).
    /// </summary>
    private static void MapAclCache(RouteGroupBuilder api, IClientDirectory clients)
    {
        api.MapDelete("/clients/{clientid}/acl_cache", (string clientid) =>
        {
            if (!clients.CleanAuthorizationCache(clientid))
                return ClientNotFound(clientid);
            return Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk);
        });
        api.MapDelete("/acl_cache", () =>
        {
            clients.InvalidateAuthorization();
            return Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk);
        });
    }

    private static void MapAclReload(RouteGroupBuilder api, BuiltinAccessControl accessControl, ILogger logger) =>
        api.MapMethods("/acl/reload", [HttpMethods.Put, HttpMethods.Post], () =>
        {
            try
            {
                accessControl.Reload();
            }
            catch (Exception ex) when (ex is AccessFileException or IOException or UnauthorizedAccessException)
            {
                return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, ex.Message);
            }
            LogAclReloaded(logger, accessControl.RuleCount, accessControl.AclFilePath);
            return Ok(new AclReloadView
            {
                AclFile = accessControl.AclFilePath,
                Rules = accessControl.RuleCount,
                PasswordFile = accessControl.PasswordFilePath,
                Users = accessControl.UserCount,
            }, ManagementJsonContext.Default.ApiResponseAclReloadView);
        });

    [LoggerMessage(EventId = 46, Level = LogLevel.Information, Message = "Management API reloaded access control: {Rules} rule(s) from '{AclFile}'")]
    private static partial void LogAclReloaded(ILogger logger, int rules, string aclFile);
}

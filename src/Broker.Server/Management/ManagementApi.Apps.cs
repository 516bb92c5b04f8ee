using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's applications: <c>GET|POST /apps</c>, <c>GET|PUT|DELETE /apps/{id}</c>. The default application
    /// (<c>management.default_application.*</c>, which ctl uses) is listed as <c>builtin</c> and cannot be changed here.
    /// </summary>
    private static void MapApps(RouteGroupBuilder api, ManagementCredentials credentials, ManagementApps apps)
    {
        AppView Builtin() => new()
        {
            AppId = credentials.ApplicationId,
            Name = "default application",
            Desc = credentials.SecretFile is null ? "secret from management.default_application.secret" : $"secret in {credentials.SecretFile}",
            Status = true,
            Builtin = true,
        };
        static AppView ViewOf(StoredApp app) => new() { AppId = app.AppId, Name = app.Name, Desc = app.Desc, Status = app.Status, Expired = app.Expired };
        IResult BuiltinRefused() => Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter,
            $"'{credentials.ApplicationId}' is the default application: set it in broker.conf (management.default_application.*)");

        api.MapGet("/apps", () => Ok([Builtin(), .. apps.List().Select(ViewOf)], ManagementJsonContext.Default.ApiResponseAppViewArray));
        api.MapGet("/apps/{id}", (string id) => id == credentials.ApplicationId ? Ok(Builtin(), ManagementJsonContext.Default.ApiResponseAppView)
            : apps.Find(id) is { } app ? Ok(ViewOf(app), ManagementJsonContext.Default.ApiResponseAppView)
            : Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no application '{id}'"));
        api.MapPost("/apps", async (HttpRequest request) =>
        {
            var (body, error) = await ReadJsonAsync(request, ManagementJsonContext.Default.AppRequest).ConfigureAwait(false);
            if (error is not null)
                return error;
            if (string.IsNullOrWhiteSpace(body!.AppId) || body.AppId.Contains(':', StringComparison.Ordinal) || body.AppId.Any(char.IsControl))
                return Error(StatusCodes.Status400BadRequest, ApiCodes.MissingParameter, "app_id is required, without ':' or control characters");
            if (body.AppId == credentials.ApplicationId)
                return BuiltinRefused();
            var secret = apps.Add(body.AppId, body.Name ?? body.AppId, body.Secret, body.Desc ?? "", body.Status ?? true,
                body.Expired is > 0 ? body.Expired : null, out var problem);
            return secret is null
                ? Error(problem!.EndsWith("exists", StringComparison.Ordinal) ? StatusCodes.Status409Conflict : StatusCodes.Status400BadRequest, ApiCodes.BadParameter, problem)
                : Ok(new AppSecret { AppId = body.AppId, Secret = secret }, ManagementJsonContext.Default.ApiResponseAppSecret);
        });
        api.MapPut("/apps/{id}", async (HttpRequest request, string id) =>
        {
            if (id == credentials.ApplicationId)
                return BuiltinRefused();
            var (body, error) = await ReadJsonAsync(request, ManagementJsonContext.Default.AppRequest).ConfigureAwait(false);
            if (error is not null)
                return error;
            return apps.Update(id, body!.Name, body.Desc, body.Status, body.Expired is > 0 ? body.Expired : null, clearExpiry: body.Expired == 0)
                ? Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk)
                : Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no application '{id}'");
        });
        api.MapDelete("/apps/{id}", (string id) => id == credentials.ApplicationId ? BuiltinRefused()
            : apps.Delete(id) ? Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk)
            : Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no application '{id}'"));
    }
}

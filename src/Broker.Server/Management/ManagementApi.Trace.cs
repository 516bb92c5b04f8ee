using Broker.Core.Hosting;
using Broker.Core.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// <c>GET /trace</c>, <c>PUT|DELETE /trace/{client|topic}?name=...</c>: the clients and topic filters whose log
    /// events are written in full, past <c>log.throttle_burst</c> (EMQX's <c>emqx_ctl trace start|stop client|topic</c>,
    /// into the broker's own log).
    /// </summary>
    private static void MapTrace(RouteGroupBuilder api, IAccessAdministration access)
    {
        api.MapGet("/trace", () => TraceOk(access));
        api.MapPut("/trace/{type}", (string type, string? name) =>
        {
            if (ParseTrace(type, name) is { } error)
                return error;
            try
            {
                access.StartTrace(Kind(type), name!);
            }
            catch (ArgumentException ex)
            {
                return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, ex.Message);
            }
            return TraceOk(access);
        });
        api.MapDelete("/trace/{type}", (string type, string? name) =>
            ParseTrace(type, name) ?? (access.StopTrace(Kind(type), name!)
                ? TraceOk(access)
                : Error(StatusCodes.Status404NotFound, ApiCodes.BadParameter, $"{type} '{name}' is not traced")));
    }

    private static IResult? ParseTrace(string type, string? name)
    {
        if (type is not ("client" or "topic"))
            return Error(StatusCodes.Status400BadRequest, ApiCodes.BadParameter, $"trace type '{type}': expected client or topic");
        return string.IsNullOrEmpty(name) ? Error(StatusCodes.Status400BadRequest, ApiCodes.MissingParameter, "missing name") : null;
    }

    private static TraceKind Kind(string type) => type == "client" ? TraceKind.Client : TraceKind.Topic;

    private static IResult TraceOk(IAccessAdministration access)
    {
        var traces = access.Traces;
        return Ok(new TraceView { Clients = [.. traces.Clients], Topics = [.. traces.Topics] }, ManagementJsonContext.Default.ApiResponseTraceView);
    }
}

using System.Text.Json.Serialization;
using Broker.Server.Listeners;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Broker.Server.Management;

internal static partial class ManagementApi
{
    /// <summary>
    /// EMQX 4's listener endpoints: <c>GET /listeners</c> (per node: protocol, listen_on, identifier, max_conns,
    /// current_conns, shutdown_count, plus running), <c>PUT /listeners/{identifier}/stop</c> (closes the socket and
    /// disconnects its clients) and <c>/restart</c> (reopens it with the same settings, or starts a stopped one).
    /// 404 for an unknown identifier, 409 for stopping a stopped listener, 500 when the address cannot be bound.
    /// The management API's own listener is not listed and cannot be stopped here.
    /// </summary>
    private static void MapListeners(RouteGroupBuilder api, ListenerManager listeners)
    {
        api.MapGet("/listeners", () =>
        {
            var views = new ListenerView[listeners.Listeners.Count];
            for (var i = 0; i < views.Length; i++)
                views[i] = ListenerViewOf(listeners.Listeners[i]);
            return Ok(new[] { new NodeListeners { Node = listeners.NodeName, Listeners = views } },
                ListenersJsonContext.Default.ApiResponseNodeListenersArray);
        });
        api.MapPut("/listeners/{identifier}/stop", async (string identifier) =>
        {
            if (listeners.Find(identifier) is not { } listener)
                return ListenerNotFound(identifier);
            return await listener.StopAsync().ConfigureAwait(false)
                ? Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk)
                : Error(StatusCodes.Status409Conflict, ApiCodes.BadParameter, $"listener {listener.Identifier} is not running");
        });
        api.MapPut("/listeners/{identifier}/restart", async (string identifier) =>
        {
            if (listeners.Find(identifier) is not { } listener)
                return ListenerNotFound(identifier);
            try
            {
                await listener.StopAsync().ConfigureAwait(false);
                await listener.StartAsync().ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                return Error(StatusCodes.Status500InternalServerError, ApiCodes.UnknownError, $"listener {listener.Identifier} cannot be opened: {ex.Message}");
            }
            return Results.Json(new ApiOk(), ManagementJsonContext.Default.ApiOk);
        });
    }

    private static IResult ListenerNotFound(string identifier) =>
        Error(StatusCodes.Status404NotFound, ApiCodes.NotFound, $"no listener '{identifier}' (GET /api/v4/listeners lists them)");

    private static ListenerView ListenerViewOf(MqttListener listener) => new()
    {
        Protocol = listener.Protocol,
        ListenOn = listener.ListenOn.ToString(),
        Identifier = listener.Identifier,
        Acceptors = 1,
        MaxConns = listener.Options.MaxConnections,
        CurrentConns = listener.CurrentConnections,
        ShutdownCount = listener.ShutdownCounts,
        Running = listener.IsRunning,
    };
}

/// <summary>The listeners of one node, as EMQX 4's <c>GET /listeners</c> lists them.</summary>
internal sealed class NodeListeners
{
    public required string Node { get; init; }
    public required ListenerView[] Listeners { get; init; }
}

/// <summary>One MQTT listener.</summary>
internal sealed class ListenerView
{
    /// <summary>mqtt:tcp, mqtt:ssl, mqtt:ws or mqtt:wss.</summary>
    public required string Protocol { get; init; }
    /// <summary>The address it is bound to (the configured one while stopped).</summary>
    public required string ListenOn { get; init; }
    /// <summary>mqtt:tcp:external and so on: what stop/restart take.</summary>
    public required string Identifier { get; init; }
    /// <summary>One accept loop per listener (Kestrel).</summary>
    public int Acceptors { get; init; }
    public int MaxConns { get; init; }
    public int CurrentConns { get; init; }
    /// <summary>Connections the broker closed, by cause: max_connections, listener_stopped.</summary>
    public required IReadOnlyDictionary<string, long> ShutdownCount { get; init; }
    public bool Running { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ApiResponse<NodeListeners[]>))]
internal sealed partial class ListenersJsonContext : JsonSerializerContext;

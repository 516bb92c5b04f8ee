using System.Net;
using Broker.Abstractions;
using Broker.Core;
using Broker.Core.Sessions;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace Broker.Server.Listeners;

/// <summary>
/// Kestrel hands every accepted MQTT/TCP connection here; it becomes a <see cref="ClientChannel"/> over the
/// connection's pipe. Enforces the listener's connection limit, and turns Kestrel's graceful-close request at
/// shutdown into an MQTT 5 DISCONNECT 0x8B.
/// </summary>
internal sealed partial class MqttConnectionHandler(BrokerEngine engine, TcpListenerOptions options, ILogger<MqttConnectionHandler> logger)
    : ConnectionHandler
{
    private const string ListenerName = "tcp:external";
    private int _connections;

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        try
        {
            if (Interlocked.Increment(ref _connections) > options.MaxConnections)
            {
                LogTooMany(logger, connection.RemoteEndPoint?.ToString(), options.MaxConnections);
                return;
            }
            var channel = new ClientChannel(engine, connection.Transport, connection.RemoteEndPoint as IPEndPoint, ListenerName);
            using var closing = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested
                .Register(static s => _ = ((ClientChannel)s!).CloseAsync(MqttReasonCode.ServerShuttingDown, "shutdown"), channel);
            await channel.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _connections);
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Connection from {Remote} refused: listener.tcp.external.max_connections ({Max}) reached")]
    private static partial void LogTooMany(ILogger logger, string? remote, int max);
}

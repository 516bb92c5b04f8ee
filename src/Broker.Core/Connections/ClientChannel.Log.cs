using Broker.Core.Sessions;
using Broker.Abstractions;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    // Every event here is about one client or one message, so each goes through the engine's LogThrottle: a client
    // that repeats what gets logged (denied publishes, failed logins, protocol errors) cannot fill the disk.
    private const int ConnectedEvent = 10;
    private const int DisconnectedEvent = 11;
    private const int ProtocolErrorEvent = 13;
    private const int PublishDeniedEvent = 14;
    private const int SubscribeRefusedEvent = 15;
    private const int UnexpectedEvent = 17;
    // 12, 16, 18 and 19 are the CONNECT handshake's (ConnectHandshake).

    /// <summary>Whether the throttle lets this event about <paramref name="clientId"/> (and <paramref name="topic"/>) be written.</summary>
    private bool ShouldLog(int eventId, string name, string? clientId, string? topic = null) =>
        _engine.LogThrottle.ShouldLog(eventId, name, clientId, topic);

    [LoggerMessage(EventId = ConnectedEvent, Level = LogLevel.Information, Message = "Client {ClientId} (user {Username}) connected from {Remote}, MQTT level {Level}, session present {SessionPresent}")]
    private static partial void LogConnected(ILogger logger, string clientId, string? username, string? remote, byte level, bool sessionPresent);

    [LoggerMessage(EventId = DisconnectedEvent, Level = LogLevel.Information, Message = "Client {ClientId} disconnected: {Reason}")]
    private static partial void LogDisconnected(ILogger logger, string clientId, string reason);

    [LoggerMessage(EventId = ProtocolErrorEvent, Level = LogLevel.Warning, Message = "Connection {Peer} closed: protocol error {ReasonCode}: {Detail}")]
    private static partial void LogProtocolError(ILogger logger, string? peer, MqttReasonCode reasonCode, string detail);

    [LoggerMessage(EventId = PublishDeniedEvent, Level = LogLevel.Information, Message = "Client {ClientId} may not publish to {Topic}: dropped")]
    private static partial void LogPublishDenied(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = SubscribeRefusedEvent, Level = LogLevel.Information, Message = "Client {ClientId} subscription to {Filter} refused: {ReasonCode}")]
    private static partial void LogSubscribeRefused(ILogger logger, string clientId, string filter, MqttReasonCode reasonCode);

    [LoggerMessage(EventId = UnexpectedEvent, Level = LogLevel.Error, Message = "Connection of {ClientId} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception ex, string? clientId);
}

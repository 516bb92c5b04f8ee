using Broker.Abstractions;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Sessions;

internal sealed partial class ClientChannel
{
    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Client {ClientId} (user {Username}) connected from {Remote}, MQTT level {Level}, session present {SessionPresent}")]
    private static partial void LogConnected(ILogger logger, string clientId, string? username, string? remote, byte level, bool sessionPresent);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Client {ClientId} disconnected: {Reason}")]
    private static partial void LogDisconnected(ILogger logger, string clientId, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Client {ClientId} (user {Username}) from {Remote} refused: authentication failed")]
    private static partial void LogAuthFailed(ILogger logger, string clientId, string? username, string? remote);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "Connection {Peer} closed: protocol error {ReasonCode}: {Detail}")]
    private static partial void LogProtocolError(ILogger logger, string? peer, MqttReasonCode reasonCode, string detail);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "Client {ClientId} may not publish to {Topic}: dropped")]
    private static partial void LogPublishDenied(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "Client {ClientId} subscription to {Filter} refused: {ReasonCode}")]
    private static partial void LogSubscribeRefused(ILogger logger, string clientId, string filter, MqttReasonCode reasonCode);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "Client {ClientId} may not publish its will to {Topic}: the will is discarded")]
    private static partial void LogWillDenied(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = 18, Level = LogLevel.Information, Message = "Client {ClientId} refused: keep-alive {KeepAlive} s is 0 or above mqtt.max_keepalive ({MaxKeepAlive} s), and MQTT 3.x cannot be told another")]
    private static partial void LogKeepAliveRefused(ILogger logger, string clientId, ushort keepAlive, int maxKeepAlive);

    [LoggerMessage(EventId = 17, Level = LogLevel.Error, Message = "Connection of {ClientId} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception ex, string? clientId);
}

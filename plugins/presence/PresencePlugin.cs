using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Presence;

/// <summary>
/// EMQX's presence module: when a client has connected, publishes
/// <c>$SYS/brokers/&lt;node&gt;/clients/&lt;clientid&gt;/connected</c>, and when it has gone,
/// <c>.../disconnected</c>, each a JSON object. The messages go through <c>message.publish</c> and the router like
/// any broker message; they are never retained.
/// </summary>
public sealed partial class PresencePlugin : IBrokerPlugin
{
    private IPluginContext? _context;
    private ILogger? _logger;
    private MqttQos _qos;

    /// <inheritdoc />
    public ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _qos = context.BindOptions<PresenceOptions>().MessageQos;
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins.Presence");
        context.Hooks.Register(HookPoints.ClientConnected, OnConnectedAsync, HookPriorities.Default);
        context.Hooks.Register(HookPoints.ClientDisconnected, OnDisconnectedAsync, HookPriorities.Default);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask StopAsync(CancellationToken cancellationToken)
    {
        _context = null;
        return ValueTask.CompletedTask;
    }

    private async ValueTask<HookResult> OnConnectedAsync(ClientConnectedContext hook)
    {
        if (hook.Client is { } client && _context is { } context)
            await PublishAsync(context, client, "connected", ConnectedPayload(client, context.TimeProvider.GetUtcNow())).ConfigureAwait(false);
        return HookResult.Continue;
    }

    private async ValueTask<HookResult> OnDisconnectedAsync(ClientDisconnectedContext hook)
    {
        if (hook.Client is { } client && _context is { } context)
            await PublishAsync(context, client, "disconnected", DisconnectedPayload(client, hook.Reason, context.TimeProvider.GetUtcNow())).ConfigureAwait(false);
        return HookResult.Continue;
    }

    private async ValueTask PublishAsync(IPluginContext context, ClientInfo client, string @event, byte[] payload)
    {
        // A client id is any UTF-8 string: one with a wildcard or NUL cannot be part of a topic name [MQTT-4.7.3-2].
        if (client.ClientId.AsSpan().IndexOfAny('+', '#', '\0') >= 0)
        {
            LogUnpublishable(_logger!, client.ClientId, @event);
            return;
        }
        var message = new BrokerMessage
        {
            Topic = $"$SYS/brokers/{context.Broker.NodeName}/clients/{client.ClientId}/{@event}",
            Payload = payload,
            Qos = _qos,
            IsSystem = true,
        };
        await context.Broker.PublishAsync(message, context.Stopping).ConfigureAwait(false);
    }

    /// <summary>The connected event, as EMQX 4 writes it (times in milliseconds since the Unix epoch).</summary>
    internal static byte[] ConnectedPayload(ClientInfo client, DateTimeOffset now) => Json(writer =>
    {
        writer.WriteString("clientid", client.ClientId);
        WriteUsername(writer, client);
        writer.WriteString("ipaddress", client.RemoteEndPoint?.Address.ToString() ?? "");
        writer.WriteString("proto_name", client.ProtocolVersion == MqttProtocolVersion.V310 ? "MQIsdp" : "MQTT");
        writer.WriteNumber("proto_ver", (int)client.ProtocolVersion);
        writer.WriteNumber("keepalive", client.KeepAlive);
        writer.WriteBoolean("clean_start", client.CleanStart);
        writer.WriteNumber("connected_at", client.ConnectedAt.ToUnixTimeMilliseconds());
        writer.WriteNumber("ts", now.ToUnixTimeMilliseconds());
    });

    /// <summary>The disconnected event: <c>reason</c> is the broker's short reason (normal, takenover, keepalive_timeout, ...).</summary>
    internal static byte[] DisconnectedPayload(ClientInfo client, string reason, DateTimeOffset now) => Json(writer =>
    {
        writer.WriteString("clientid", client.ClientId);
        WriteUsername(writer, client);
        writer.WriteString("reason", reason);
        writer.WriteNumber("disconnected_at", now.ToUnixTimeMilliseconds());
        writer.WriteNumber("ts", now.ToUnixTimeMilliseconds());
    });

    private static void WriteUsername(Utf8JsonWriter writer, ClientInfo client)
    {
        if (client.Username is null)
            writer.WriteNull("username");
        else
            writer.WriteString("username", client.Username);
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "presence: client id {ClientId} cannot be part of a topic name; no {Event} message")]
    private static partial void LogUnpublishable(ILogger logger, string clientId, string @event);
}

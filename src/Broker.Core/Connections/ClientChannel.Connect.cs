using Broker.Core.Sessions;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Protocol;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    private int _window;
    private string? _peerHost; // the peer's IP address as messages carry it (BrokerMessage.PublisherAddress), made once at CONNECT

    /// <summary>Waits <paramref name="delay"/>; false when the connection was closed meanwhile.</summary>
    internal async ValueTask<bool> WaitUnlessClosedAsync(TimeSpan delay)
    {
        var rare = Rare;
        var closing = Volatile.Read(ref rare.CloseSignal);
        if (closing is null)
        {
            Interlocked.CompareExchange(ref rare.CloseSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
            closing = Volatile.Read(ref rare.CloseSignal)!;
        }
        if (Volatile.Read(ref _closeRequested) == 0)
            await Task.WhenAny(Task.Delay(delay, _engine.TimeProvider), closing.Task).ConfigureAwait(false);
        return Volatile.Read(ref _closeRequested) == 0;
    }

    /// <summary>Called by <see cref="ConnectHandshake"/> once the CONNECT has made a client (before its hooks and any hold).</summary>
    internal void BeginClient(ClientInfo client) => _client = client;

    /// <summary>
    /// CONNECT: the handshake decides (<see cref="ConnectHandshake"/>); an accepted client gets its session (taking
    /// over another connection's, or a new one), its CONNACK and its keep-alive deadline, then what its session held.
    /// </summary>
    private async ValueTask HandleConnectAsync(MqttConnectPacket connect)
    {
        _version = connect.ProtocolVersion;
        var decision = await _engine.Handshake.DecideAsync(connect, this).ConfigureAwait(false);
        if (decision.IsAbandoned)
            return;
        _peerHost = decision.PeerHost;
        if (decision.Refusal is { } refusal)
        {
            if (decision.SilentClose is { } why)
                RequestClose(refusal, why, sendDisconnect: false);
            else
                await RefuseAsync(refusal, null).ConfigureAwait(false);
            return;
        }

        var client = decision.Client!;
        var properties = decision.Properties;
        var mqtt = _engine.MqttOptions;
        _superuser = decision.Superuser;
        if (decision.Will is { } will)
        {
            var rare = Rare;
            rare.Will = will;
            rare.WillDelay = decision.WillDelay;
        }

        // Flow control the client asked for (MQTT 5): Receive Maximum bounds our in-flight window, Maximum
        // Packet Size what we may send it [MQTT-3.1.2-24 of 5.0], Topic Alias Maximum the aliases we may set.
        _window = Math.Min(_engine.SessionOptions.MaxInflight, properties?.ReceiveMaximum ?? ushort.MaxValue);
        if (properties?.MaximumPacketSize is { } maximumPacketSize and > 0)
            Rare.ClientMaximumPacketSize = maximumPacketSize;
        if (properties?.TopicAliasMaximum is { } topicAliasMaximum and > 0)
            Rare.ClientTopicAliasMaximum = topicAliasMaximum;

        var (session, present) = await _engine.Sessions.ConnectAsync(this, client, _superuser, connect.CleanSession, decision.ExpiryInterval).ConfigureAwait(false);
        if (session is null)
        {
            // In a cluster, another node kept winning this client id while this one tried to own it.
            await RefuseAsync(MqttReasonCode.ServerBusy, null).ConfigureAwait(false);
            return;
        }
        _session = session;

        MqttProperties? connackProperties = null;
        if (_version == MqttProtocolVersion.V500)
        {
            connackProperties = new MqttProperties
            {
                ReceiveMaximum = (ushort)Math.Min(_engine.SessionOptions.MaxAwaitingRel, ushort.MaxValue),
                MaximumPacketSize = (uint)MaxPacketSize,
                TopicAliasMaximum = (ushort)mqtt.MaxTopicAlias,
                MaximumQos = mqtt.MaxQosAllowed < 2 ? (byte)mqtt.MaxQosAllowed : null,
                RetainAvailable = mqtt.RetainAvailable ? null : (byte)0,
                WildcardSubscriptionAvailable = mqtt.WildcardSubscription ? null : (byte)0,
                SharedSubscriptionAvailable = mqtt.SharedSubscription ? null : (byte)0,
                AssignedClientIdentifier = decision.AssignedClientId ? client.ClientId : null,
                ServerKeepAlive = decision.KeepAliveChanged ? decision.KeepAlive : null,
                SessionExpiryInterval = decision.ExpiryChanged ? decision.ExpiryInterval : null,
            };
        }
        connackProperties = await RunConnackHookAsync(MqttReasonCode.Success, connackProperties).ConfigureAwait(false);

        var keepAlive = decision.KeepAlive;
        _keepAliveLimit = TimeSpan.FromSeconds(keepAlive * 1.5);
        _connected = true;
        _engine.Metrics.Connected();
        Send(new MqttConnAckPacket { SessionPresent = present, ReasonCode = MqttReasonCode.Success, Properties = connackProperties });
        if (keepAlive == 0)
            _engine.Deadlines.Cancel(this);
        else
            _engine.Deadlines.Schedule(this, _keepAliveLimit);
        session.Resume(this, _window);
        if (ShouldLog(ConnectedEvent, nameof(LogConnected), client.ClientId))
            LogConnected(Logger, client.ClientId, client.Username, RemoteEndPoint?.ToString(), (byte)_version, present);

        if (!_engine.Hooks.ClientConnected.IsEmpty)
            await _engine.Hooks.ClientConnected.RunAsync(new ClientConnectedContext { Client = client, SessionPresent = present }).ConfigureAwait(false);
    }

    /// <summary>Refuses the CONNECT: CONNACK with the reason (mapped to a 3.1.1 return code by the codec), then close.</summary>
    private async ValueTask RefuseAsync(MqttReasonCode reason, MqttProperties? properties)
    {
        properties = await RunConnackHookAsync(reason, properties).ConfigureAwait(false);
        if (_version != MqttProtocolVersion.V500)
            reason = ToV3ConnAckCode(reason);
        Send(new MqttConnAckPacket { ReasonCode = reason, Properties = properties });
        RequestClose(reason, "refused", sendDisconnect: false);
    }

    /// <summary>3.1.1 has only six CONNACK return codes (3.2.2.3); map each 5.0 refusal to the nearest.</summary>
    private static MqttReasonCode ToV3ConnAckCode(MqttReasonCode reason) => reason switch
    {
        MqttReasonCode.UnsupportedProtocolVersion or MqttReasonCode.ClientIdentifierNotValid
            or MqttReasonCode.BadUserNameOrPassword or MqttReasonCode.NotAuthorized or MqttReasonCode.ServerUnavailable => reason,
        MqttReasonCode.BadAuthenticationMethod or MqttReasonCode.Banned => MqttReasonCode.NotAuthorized,
        _ => MqttReasonCode.ServerUnavailable,
    };

    private async ValueTask<MqttProperties?> RunConnackHookAsync(MqttReasonCode reason, MqttProperties? properties)
    {
        if (_engine.Hooks.ClientConnack.IsEmpty)
            return properties;
        var context = new ClientConnackContext { Client = _client, ReasonCode = reason, Properties = properties };
        await _engine.Hooks.ClientConnack.RunAsync(context).ConfigureAwait(false);
        return context.Properties;
    }
}

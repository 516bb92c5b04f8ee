using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Protocol;

namespace Broker.Core.Sessions;

internal sealed partial class ClientChannel
{
    private int _window;
    private ushort _clientTopicAliasMaximum;
    private uint _clientMaximumPacketSize;
    private string? _peerHost; // the peer's IP address as messages carry it (BrokerMessage.PublisherAddress), made once at CONNECT

    /// <summary>Waits <paramref name="delay"/>; false when the connection was closed meanwhile.</summary>
    private async ValueTask<bool> WaitUnlessClosedAsync(TimeSpan delay)
    {
        var closing = Volatile.Read(ref _closeSignal);
        if (closing is null)
        {
            Interlocked.CompareExchange(ref _closeSignal, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
            closing = Volatile.Read(ref _closeSignal)!;
        }
        if (Volatile.Read(ref _closeRequested) == 0)
            await Task.WhenAny(Task.Delay(delay, _engine.TimeProvider), closing.Task).ConfigureAwait(false);
        return Volatile.Read(ref _closeRequested) == 0;
    }

    private async ValueTask HandleConnectAsync(MqttConnectPacket connect)
    {
        _version = connect.ProtocolVersion;
        var mqtt = _engine.MqttOptions;
        var v5 = _version == MqttProtocolVersion.V500;
        var properties = connect.Properties;
        if (UsernameFromCertificate)
            connect.Username = PeerCertUsername;

        if (_engine.IsShuttingDown)
        {
            await RefuseAsync(MqttReasonCode.ServerUnavailable, null).ConfigureAwait(false);
            return;
        }
        if (_engine.Overload.IsActive)
        {
            // Above overload_protection.high_watermark, before any authentication work. MQTT 3.x has no "busy" code: closed.
            _engine.Overload.Refused(connect.ClientId);
            if (v5)
                await RefuseAsync(MqttReasonCode.ServerBusy, null).ConfigureAwait(false);
            else
                RequestClose(MqttReasonCode.ServerBusy, "overloaded", sendDisconnect: false);
            return;
        }

        var clientId = connect.ClientId;
        var assigned = false;
        if (clientId.Length == 0)
        {
            // 3.1 requires 1..23 characters; 3.1.1 allows an empty id only with clean session [MQTT-3.1.3-8];
            // otherwise the server assigns one [MQTT-3.1.3-6] and MQTT 5 tells the client [MQTT-3.2.2-16].
            if (_version == MqttProtocolVersion.V310 || (_version == MqttProtocolVersion.V311 && !connect.CleanSession))
            {
                await RefuseAsync(MqttReasonCode.ClientIdentifierNotValid, null).ConfigureAwait(false);
                return;
            }
            clientId = "auto-" + Guid.NewGuid().ToString("N");
            assigned = true;
        }
        if (clientId.Length > mqtt.MaxClientIdLength)
        {
            await RefuseAsync(MqttReasonCode.ClientIdentifierNotValid, null).ConfigureAwait(false);
            return;
        }
        if (_engine.Banned.Find(clientId, connect.Username, RemoteEndPoint?.Address) is { } ban)
        {
            // Before the connect hook and authentication: a banned client costs no password hashing. MQTT 5 CONNACK
            // 0x8A Banned (section 3.2.2.2); MQTT 3.x return code 5 Not authorized.
            _engine.Metrics.ConnectBanned();
            if (ShouldLog(BannedEvent, nameof(LogBanned), clientId))
                LogBanned(_logger, clientId, connect.Username, RemoteEndPoint?.ToString(), BannedList.KindName(ban.As), ban.Who, ban.Until);
            await RefuseAsync(MqttReasonCode.Banned, null).ConfigureAwait(false);
            return;
        }
        if (properties?.AuthenticationMethod is not null)
        {
            // No enhanced authentication method is supported [MQTT-4.12.0-1].
            await RefuseAsync(MqttReasonCode.BadAuthenticationMethod, null).ConfigureAwait(false);
            return;
        }
        if (connect.WillTopic is not null)
        {
            if ((byte)connect.WillQos > mqtt.MaxQosAllowed)
            {
                await RefuseAsync(MqttReasonCode.QosNotSupported, null).ConfigureAwait(false); // [MQTT-3.2.2-12]
                return;
            }
            if (connect.WillRetain && !mqtt.RetainAvailable)
            {
                await RefuseAsync(MqttReasonCode.RetainNotSupported, null).ConfigureAwait(false); // [MQTT-3.2.2-13]
                return;
            }
        }

        // mqtt.server_keepalive tells every MQTT 5 client its keep-alive (EMQX); otherwise mqtt.max_keepalive bounds
        // it (mosquitto 2): MQTT 5 clients are told the maximum, MQTT 3.x clients cannot be and are refused.
        var keepAlive = connect.KeepAlive;
        if (v5 && mqtt.ServerKeepAlive > 0)
        {
            keepAlive = (ushort)mqtt.ServerKeepAlive;
        }
        else if (mqtt.MaxKeepAlive > 0 && (keepAlive == 0 || keepAlive > mqtt.MaxKeepAlive))
        {
            if (!v5)
            {
                if (ShouldLog(KeepAliveRefusedEvent, nameof(LogKeepAliveRefused), clientId))
                    LogKeepAliveRefused(_logger, clientId, keepAlive, mqtt.MaxKeepAlive);
                await RefuseAsync(MqttReasonCode.ClientIdentifierNotValid, null).ConfigureAwait(false);
                return;
            }
            keepAlive = (ushort)mqtt.MaxKeepAlive;
        }
        // The server tells an MQTT 5 client only a value other than its own [MQTT-3.2.2-21], [MQTT-3.2.2-22].
        var serverKeepAlive = keepAlive != connect.KeepAlive;

        var client = new ClientInfo
        {
            ClientId = clientId,
            Username = connect.Username,
            RemoteEndPoint = RemoteEndPoint,
            CertificateCommonName = PeerCertCommonName,
            CertificateSubject = PeerCertSubject,
            ProtocolVersion = _version,
            KeepAlive = keepAlive,
            CleanStart = connect.CleanSession,
            ConnectedAt = _engine.Now,
            Listener = Listener,
            UserProperties = properties?.UserProperties,
        };
        _client = client;

        if (!_engine.Hooks.ClientConnect.IsEmpty)
        {
            // The CONNECT properties are this hook's accumulator: what the callbacks leave is what the broker uses.
            var connectContext = new ClientConnectContext { Client = client, ConnectProperties = properties };
            await _engine.Hooks.ClientConnect.RunAsync(connectContext).ConfigureAwait(false);
            properties = connectContext.ConnectProperties;
        }

        uint expiry;
        var expiryChanged = false;
        if (v5)
        {
            expiry = properties?.SessionExpiryInterval ?? 0;
            var max = _engine.SessionOptions.MaxExpiryInterval;
            if (max > TimeSpan.Zero && expiry > max.TotalSeconds)
            {
                expiry = (uint)max.TotalSeconds;
                expiryChanged = true;
            }
        }
        else
        {
            expiry = connect.CleanSession ? 0 : (uint)Math.Min(_engine.SessionOptions.ExpiryInterval.TotalSeconds, uint.MaxValue - 1);
        }

        var address = RemoteEndPoint?.Address;
        _peerHost = address is null ? null : BannedList.Normalize(address);

        // Earlier failed logins from this address or for this user name hold this one (login_failure.delay_after):
        // a guesser waits instead of making the broker hash. A close (kick, idle timeout, shutdown) ends the wait.
        var loginFailures = _engine.LoginFailures;
        var hold = loginFailures.DelayFor(address, connect.Username);
        if (hold > TimeSpan.Zero && !await WaitUnlessClosedAsync(hold).ConfigureAwait(false))
            return;

        var auth = new ClientAuthenticateContext { Client = client, Password = connect.Password };
        await _engine.Hooks.ClientAuthenticate.RunAsync(auth).ConfigureAwait(false);
        var allowed = auth.Result == AuthenticationResult.Allow
            || (auth.Result == AuthenticationResult.Ignore && _engine.AccessOptions.AllowAnonymous);
        if (allowed)
        {
            loginFailures.Succeeded(connect.Username);
        }
        else
        {
            // A hook that failed or timed out is the broker's trouble, not a wrong password: not counted.
            if (!auth.CallbackFailed)
                loginFailures.Failed(address, connect.Username);
            if (ShouldLog(AuthFailedEvent, nameof(LogAuthFailed), clientId))
                LogAuthFailed(_logger, clientId, connect.Username, RemoteEndPoint?.ToString());
            await RefuseAsync(auth.Result == AuthenticationResult.Deny ? auth.DenyReasonCode : MqttReasonCode.NotAuthorized, null).ConfigureAwait(false);
            return;
        }
        _superuser = auth.IsSuperuser;

        if (connect.WillTopic is not null)
        {
            if (await _engine.AuthorizeAsync(client, _superuser, AuthorizationAction.Publish, connect.WillTopic).ConfigureAwait(false))
            {
                var willProperties = connect.WillProperties;
                _will = new BrokerMessage
                {
                    Topic = connect.WillTopic,
                    Payload = connect.WillPayload,
                    Qos = connect.WillQos,
                    Retain = connect.WillRetain,
                    Properties = willProperties is null ? null : WithoutWillOnlyProperties(willProperties),
                    MessageExpiryInterval = willProperties?.MessageExpiryInterval,
                    PublisherId = clientId,
                    PublisherUsername = client.Username,
                    PublisherAddress = _peerHost,
                    OriginNode = _engine.BrokerOptions.NodeName,
                    Timestamp = client.ConnectedAt,
                };
                _willDelay = willProperties?.WillDelayInterval ?? 0;
            }
            else
            {
                if (ShouldLog(WillDeniedEvent, nameof(LogWillDenied), clientId, connect.WillTopic))
                    LogWillDenied(_logger, clientId, connect.WillTopic);
            }
        }

        // Flow control the client asked for (MQTT 5): Receive Maximum bounds our in-flight window, Maximum
        // Packet Size what we may send it [MQTT-3.1.2-24 of 5.0], Topic Alias Maximum the aliases we may set.
        _window = Math.Min(_engine.SessionOptions.MaxInflight, properties?.ReceiveMaximum ?? ushort.MaxValue);
        _clientMaximumPacketSize = properties?.MaximumPacketSize ?? 0;
        _clientTopicAliasMaximum = properties?.TopicAliasMaximum ?? 0;

        var (session, present) = await _engine.Sessions.ConnectAsync(this, client, _superuser, connect.CleanSession, expiry).ConfigureAwait(false);
        _session = session;

        MqttProperties? connackProperties = null;
        if (v5)
        {
            connackProperties = new MqttProperties
            {
                ReceiveMaximum = (ushort)Math.Min(_engine.SessionOptions.MaxAwaitingRel, ushort.MaxValue),
                MaximumPacketSize = (uint)_maxPacketSize,
                TopicAliasMaximum = (ushort)mqtt.MaxTopicAlias,
                MaximumQos = mqtt.MaxQosAllowed < 2 ? (byte)mqtt.MaxQosAllowed : null,
                RetainAvailable = mqtt.RetainAvailable ? null : (byte)0,
                WildcardSubscriptionAvailable = mqtt.WildcardSubscription ? null : (byte)0,
                SharedSubscriptionAvailable = mqtt.SharedSubscription ? null : (byte)0,
                AssignedClientIdentifier = assigned ? clientId : null,
                ServerKeepAlive = serverKeepAlive ? keepAlive : null,
                SessionExpiryInterval = expiryChanged ? expiry : null,
            };
        }
        connackProperties = await RunConnackHookAsync(MqttReasonCode.Success, connackProperties).ConfigureAwait(false);

        _keepAliveLimit = TimeSpan.FromSeconds(keepAlive * 1.5);
        _connected = true;
        _engine.Metrics.Connected();
        Send(new MqttConnAckPacket { SessionPresent = present, ReasonCode = MqttReasonCode.Success, Properties = connackProperties });
        if (keepAlive == 0)
            _engine.Deadlines.Cancel(this);
        else
            _engine.Deadlines.Schedule(this, _keepAliveLimit);
        session.Resume(this, _window);
        if (ShouldLog(ConnectedEvent, nameof(LogConnected), clientId))
            LogConnected(_logger, clientId, connect.Username, RemoteEndPoint?.ToString(), (byte)_version, present);

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

    /// <summary>The will's properties as its PUBLISH carries them: without Will Delay Interval and Message Expiry.</summary>
    private static MessageProperties? WithoutWillOnlyProperties(MqttProperties will)
    {
        if (will.PayloadFormatIndicator is null && will.ContentType is null && will.ResponseTopic is null
            && will.CorrelationData is null && will.UserProperties is null)
            return null;
        return new MessageProperties
        {
            PayloadFormatIndicator = will.PayloadFormatIndicator,
            ContentType = will.ContentType,
            ResponseTopic = will.ResponseTopic,
            CorrelationData = will.CorrelationData,
            UserProperties = will.UserProperties is { } users ? [.. users] : [],
        };
    }
}

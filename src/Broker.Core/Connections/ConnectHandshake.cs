using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Protocol;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Connections;

/// <summary>
/// The CONNECT handshake, from a decoded CONNECT to a decision: every refusal the specification and the operator's
/// settings give (shutdown, overload, client identifier, ban, enhanced authentication, will limits, keep-alive), the
/// <c>client.connect</c> hook, the hold after earlier failed logins, authentication and the will's authorization. It
/// keeps no state of its own and sends nothing: <see cref="ClientChannel"/> applies the decision (CONNACK, session,
/// keep-alive). One per engine.
/// </summary>
internal sealed partial class ConnectHandshake(BrokerEngine engine)
{
    // The events it logs keep the ids and the category they had as the channel's.
    private const int AuthFailedEvent = 12;
    private const int WillDeniedEvent = 16;
    private const int KeepAliveRefusedEvent = 18;
    private const int BannedEvent = 19;

    private readonly ILogger _logger = engine.LoggerFactory.CreateLogger("Broker.Core.Channel");

    /// <summary>Decides <paramref name="connect"/>, received on <paramref name="channel"/>.</summary>
    /// <remarks>
    /// The channel is told the client as soon as there is one (<see cref="ClientChannel.BeginClient"/>), before the
    /// hooks and any hold, so a kick or a ban meanwhile finds it; a hold ends early when the channel closes.
    /// </remarks>
    public async ValueTask<ConnectDecision> DecideAsync(MqttConnectPacket connect, ClientChannel channel)
    {
        var version = connect.ProtocolVersion;
        var mqtt = engine.MqttOptions;
        var v5 = version == MqttProtocolVersion.V500;
        var properties = connect.Properties;
        if (channel.UsernameFromCertificate)
            connect.Username = channel.PeerCertUsername;
        var remote = channel.RemoteEndPoint;

        if (engine.IsShuttingDown)
            return ConnectDecision.Refuse(MqttReasonCode.ServerUnavailable);
        if (engine.Overload.IsActive)
        {
            // Above overload_protection.high_watermark, before any authentication work. MQTT 3.x has no "busy" code: closed.
            engine.Overload.Refused(connect.ClientId);
            return v5 ? ConnectDecision.Refuse(MqttReasonCode.ServerBusy) : ConnectDecision.CloseWithoutConnack(MqttReasonCode.ServerBusy, "overloaded");
        }

        var clientId = connect.ClientId;
        var assigned = false;
        if (clientId.Length == 0)
        {
            // 3.1 requires 1..23 characters; 3.1.1 allows an empty id only with clean session [MQTT-3.1.3-8];
            // otherwise the server assigns one [MQTT-3.1.3-6] and MQTT 5 tells the client [MQTT-3.2.2-16].
            if (version == MqttProtocolVersion.V310 || (version == MqttProtocolVersion.V311 && !connect.CleanSession))
                return ConnectDecision.Refuse(MqttReasonCode.ClientIdentifierNotValid);
            clientId = "auto-" + Guid.NewGuid().ToString("N");
            assigned = true;
        }
        if (clientId.Length > mqtt.MaxClientIdLength)
            return ConnectDecision.Refuse(MqttReasonCode.ClientIdentifierNotValid);
        // A node that has just started or joined a cluster holds CONNECTs until it has the cluster's banned list
        // (cluster.node_timeout at most): a ban made on another node refuses the client here from its first CONNECT.
        if (engine.Cluster is { BansRead: { IsCompleted: false } bansRead })
            await bansRead.ConfigureAwait(false);
        if (engine.Banned.Find(clientId, connect.Username, remote?.Address) is { } ban)
        {
            // Before the connect hook and authentication: a banned client costs no password hashing. MQTT 5 CONNACK
            // 0x8A Banned (section 3.2.2.2); MQTT 3.x return code 5 Not authorized.
            engine.Metrics.ConnectBanned();
            if (ShouldLog(BannedEvent, nameof(LogBanned), clientId))
                LogBanned(_logger, clientId, connect.Username, remote?.ToString(), BannedList.KindName(ban.As), ban.Who, ban.Until);
            return ConnectDecision.Refuse(MqttReasonCode.Banned);
        }
        // No enhanced authentication method is supported [MQTT-4.12.0-1].
        if (properties?.AuthenticationMethod is not null)
            return ConnectDecision.Refuse(MqttReasonCode.BadAuthenticationMethod);
        if (connect.WillTopic is not null)
        {
            if ((byte)connect.WillQos > mqtt.MaxQosAllowed)
                return ConnectDecision.Refuse(MqttReasonCode.QosNotSupported); // [MQTT-3.2.2-12]
            if (connect.WillRetain && !mqtt.RetainAvailable)
                return ConnectDecision.Refuse(MqttReasonCode.RetainNotSupported); // [MQTT-3.2.2-13]
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
                return ConnectDecision.Refuse(MqttReasonCode.ClientIdentifierNotValid);
            }
            keepAlive = (ushort)mqtt.MaxKeepAlive;
        }

        var client = new ClientInfo
        {
            ClientId = clientId,
            Username = connect.Username,
            RemoteEndPoint = remote,
            CertificateCommonName = channel.PeerCertCommonName,
            CertificateSubject = channel.PeerCertSubject,
            ProtocolVersion = version,
            KeepAlive = keepAlive,
            CleanStart = connect.CleanSession,
            ConnectedAt = engine.Now,
            Listener = channel.Listener,
            UserProperties = properties?.UserProperties,
        };
        channel.BeginClient(client);

        if (!engine.Hooks.ClientConnect.IsEmpty)
        {
            // The CONNECT properties are this hook's accumulator: what the callbacks leave is what the broker uses.
            var connectContext = new ClientConnectContext { Client = client, ConnectProperties = properties };
            await engine.Hooks.ClientConnect.RunAsync(connectContext).ConfigureAwait(false);
            properties = connectContext.ConnectProperties;
        }

        uint expiry;
        var expiryChanged = false;
        if (v5)
        {
            expiry = properties?.SessionExpiryInterval ?? 0;
            var max = engine.SessionOptions.MaxExpiryInterval;
            if (max > TimeSpan.Zero && expiry > max.TotalSeconds)
            {
                expiry = (uint)max.TotalSeconds;
                expiryChanged = true;
            }
        }
        else
        {
            expiry = connect.CleanSession ? 0 : (uint)Math.Min(engine.SessionOptions.ExpiryInterval.TotalSeconds, uint.MaxValue - 1);
        }

        var address = remote?.Address;
        var peerHost = address is null ? null : BannedList.Normalize(address);

        // Earlier failed logins from this address or for this user name hold this one (login_failure.delay_after):
        // a guesser waits instead of making the broker hash. A close (kick, idle timeout, shutdown) ends the wait.
        var loginFailures = engine.LoginFailures;
        var hold = loginFailures.DelayFor(address, connect.Username);
        if (hold > TimeSpan.Zero && !await channel.WaitUnlessClosedAsync(hold).ConfigureAwait(false))
            return ConnectDecision.Abandoned;

        var auth = new ClientAuthenticateContext { Client = client, Password = connect.Password };
        await engine.Hooks.ClientAuthenticate.RunAsync(auth).ConfigureAwait(false);
        var allowed = auth.Result == AuthenticationResult.Allow
            || (auth.Result == AuthenticationResult.Ignore && engine.AccessOptions.AllowAnonymous);
        if (!allowed)
        {
            // A hook that failed or timed out is the broker's trouble, not a wrong password: not counted.
            if (!auth.CallbackFailed)
                loginFailures.Failed(address, connect.Username);
            if (ShouldLog(AuthFailedEvent, nameof(LogAuthFailed), clientId))
                LogAuthFailed(_logger, clientId, connect.Username, remote?.ToString());
            return ConnectDecision.Refuse(auth.Result == AuthenticationResult.Deny ? auth.DenyReasonCode : MqttReasonCode.NotAuthorized);
        }
        loginFailures.Succeeded(connect.Username);
        var superuser = auth.IsSuperuser;

        BrokerMessage? will = null;
        uint willDelay = 0;
        if (connect.WillTopic is not null)
        {
            if (await engine.AuthorizeAsync(client, superuser, AuthorizationAction.Publish, connect.WillTopic).ConfigureAwait(false))
            {
                var willProperties = connect.WillProperties;
                will = new BrokerMessage
                {
                    Topic = connect.WillTopic,
                    Payload = connect.WillPayload,
                    Qos = connect.WillQos,
                    Retain = connect.WillRetain,
                    Properties = willProperties is null ? null : WithoutWillOnlyProperties(willProperties),
                    MessageExpiryInterval = willProperties?.MessageExpiryInterval,
                    PublisherId = clientId,
                    PublisherUsername = client.Username,
                    PublisherAddress = peerHost,
                    OriginNode = engine.BrokerOptions.NodeName,
                    Timestamp = client.ConnectedAt,
                };
                willDelay = willProperties?.WillDelayInterval ?? 0;
            }
            else if (ShouldLog(WillDeniedEvent, nameof(LogWillDenied), clientId, connect.WillTopic))
            {
                LogWillDenied(_logger, clientId, connect.WillTopic);
            }
        }

        return new ConnectDecision
        {
            Client = client,
            Properties = properties,
            Superuser = superuser,
            AssignedClientId = assigned,
            KeepAlive = keepAlive,
            // The server tells an MQTT 5 client only a value other than its own [MQTT-3.2.2-21], [MQTT-3.2.2-22].
            KeepAliveChanged = keepAlive != connect.KeepAlive,
            ExpiryInterval = expiry,
            ExpiryChanged = expiryChanged,
            PeerHost = peerHost,
            Will = will,
            WillDelay = willDelay,
        };
    }

    private bool ShouldLog(int eventId, string name, string? clientId, string? topic = null) =>
        engine.LogThrottle.ShouldLog(eventId, name, clientId, topic);

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

    [LoggerMessage(EventId = AuthFailedEvent, Level = LogLevel.Warning, Message = "Client {ClientId} (user {Username}) from {Remote} refused: authentication failed")]
    private static partial void LogAuthFailed(ILogger logger, string clientId, string? username, string? remote);

    [LoggerMessage(EventId = WillDeniedEvent, Level = LogLevel.Warning, Message = "Client {ClientId} may not publish its will to {Topic}: the will is discarded")]
    private static partial void LogWillDenied(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = KeepAliveRefusedEvent, Level = LogLevel.Information, Message = "Client {ClientId} refused: keep-alive {KeepAlive} s is 0 or above mqtt.max_keepalive ({MaxKeepAlive} s), and MQTT 3.x cannot be told another")]
    private static partial void LogKeepAliveRefused(ILogger logger, string clientId, ushort keepAlive, int maxKeepAlive);

    [LoggerMessage(EventId = BannedEvent, Level = LogLevel.Warning, Message = "Client {ClientId} (user {Username}) from {Remote} refused: banned as {As} {Who} until {Until:u}")]
    private static partial void LogBanned(ILogger logger, string clientId, string? username, string? remote, string @as, string who, DateTimeOffset until);
}

/// <summary>What <see cref="ConnectHandshake"/> decided about one CONNECT.</summary>
internal sealed class ConnectDecision
{
    /// <summary>The connection closed while the login was held: nothing more to do.</summary>
    public static readonly ConnectDecision Abandoned = new() { IsAbandoned = true };

    /// <summary>Refused: CONNACK with <paramref name="reason"/> (mapped for MQTT 3.x), then close.</summary>
    public static ConnectDecision Refuse(MqttReasonCode reason) => new() { Refusal = reason };

    /// <summary>Closed without a CONNACK (MQTT 3.x has no code for it).</summary>
    public static ConnectDecision CloseWithoutConnack(MqttReasonCode reason, string why) => new() { Refusal = reason, SilentClose = why };

    public bool IsAbandoned { get; private init; }

    /// <summary>Why the CONNECT is refused; null when it is accepted.</summary>
    public MqttReasonCode? Refusal { get; private init; }

    /// <summary>Set when the refusal closes without a CONNACK: the reason logged for the close.</summary>
    public string? SilentClose { get; private init; }

    // Accepted:
    public ClientInfo? Client { get; init; }

    /// <summary>The CONNECT properties as the <c>client.connect</c> hook left them.</summary>
    public MqttProperties? Properties { get; init; }

    public bool Superuser { get; init; }

    public bool AssignedClientId { get; init; }

    public ushort KeepAlive { get; init; }

    public bool KeepAliveChanged { get; init; }

    public uint ExpiryInterval { get; init; }

    public bool ExpiryChanged { get; init; }

    /// <summary>The peer's address as messages carry it (<see cref="BrokerMessage.PublisherAddress"/>).</summary>
    public string? PeerHost { get; init; }

    public BrokerMessage? Will { get; init; }

    public uint WillDelay { get; init; }
}

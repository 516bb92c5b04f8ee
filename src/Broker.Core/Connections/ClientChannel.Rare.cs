using Broker.Core.Sessions;
using Broker.Abstractions;
using Broker.Protocol;

namespace Broker.Core.Connections;

internal sealed partial class ClientChannel
{
    // What most connections never use, or only once they close: kept out of the channel, which every idle connection
    // holds, and made on first use (bench/README.md, "Idle connections: where the 2.8 KB go"). A connection of a
    // large idle fleet (no will, no TLS, no limits, MQTT 5 extras unused, not yet closed) never makes it.
    private RareState? _rare;

    private RareState Rare => Volatile.Read(ref _rare) ?? CreateRare();

    private RareState CreateRare()
    {
        var created = new RareState();
        return Interlocked.CompareExchange(ref _rare, created, null) ?? created;
    }

    /// <summary>Why the connection closed; set once, by the first <see cref="RequestClose"/>.</summary>
    private MqttReasonCode CloseReason => Volatile.Read(ref _rare)?.CloseReason ?? MqttReasonCode.UnspecifiedError;

    private string CloseWhy => Volatile.Read(ref _rare)?.CloseWhy ?? "closed";

    /// <summary>
    /// Set by a TLS listener with <c>peer_cert_as_username</c>: the CONNECT's username is replaced by
    /// <see cref="PeerCertUsername"/> (null without a client certificate, as EMQX does) before any hook or
    /// authentication sees it, so a client cannot claim another certificate's name.
    /// </summary>
    public bool UsernameFromCertificate
    {
        get => _rare?.UsernameFromCertificate ?? false;
        init
        {
            if (value)
                Rare.UsernameFromCertificate = true;
        }
    }

    /// <summary>The client certificate's name when <see cref="UsernameFromCertificate"/>.</summary>
    public string? PeerCertUsername
    {
        get => _rare?.PeerCertUsername;
        init
        {
            if (value is not null)
                Rare.PeerCertUsername = value;
        }
    }

    /// <summary>The TLS client certificate's Common Name, if one was given (<see cref="ClientInfo.CertificateCommonName"/>).</summary>
    public string? PeerCertCommonName
    {
        get => _rare?.PeerCertCommonName;
        init
        {
            if (value is not null)
                Rare.PeerCertCommonName = value;
        }
    }

    /// <summary>The TLS client certificate's subject DN, if one was given (<see cref="ClientInfo.CertificateSubject"/>).</summary>
    public string? PeerCertSubject
    {
        get => _rare?.PeerCertSubject;
        init
        {
            if (value is not null)
                Rare.PeerCertSubject = value;
        }
    }

    /// <summary>The listener's per-connection inbound limits; null (no cost) when none is configured.</summary>
    public InboundRateLimiter? InboundLimiter
    {
        get => _rare?.InboundLimiter;
        init
        {
            if (value is not null)
                Rare.InboundLimiter = value;
        }
    }

    private sealed class RareState
    {
        // Closing.
        public TaskCompletionSource? Closed;      // Closed, when someone awaits it
        public TaskCompletionSource? CloseSignal; // made by a pause (inbound limiter, held login): ends it when the channel closes
        public MqttReasonCode CloseReason = MqttReasonCode.UnspecifiedError;
        public string CloseWhy = "closed";
        public int TakenOver;

        // The will, as the CONNECT gave it; WillDiscarded after a normal DISCONNECT.
        public BrokerMessage? Will;
        public uint WillDelay;
        public bool WillDiscarded;

        // The listener's.
        public bool UsernameFromCertificate;
        public string? PeerCertUsername;
        public string? PeerCertCommonName;
        public string? PeerCertSubject;
        public InboundRateLimiter? InboundLimiter;

        // MQTT 5 extras the client asked for: what it may be sent, and topic aliases either way.
        public uint ClientMaximumPacketSize;
        public ushort ClientTopicAliasMaximum;
        public Dictionary<string, ushort>? OutboundAliases;
        public Dictionary<ushort, string>? InboundAliases;

        // Back-pressure waits and persistence.sync = sync.
        public TaskCompletionSource? Qos0Drained;
        public Task DurableAcks = Task.CompletedTask; // PUBACK/PUBREC waiting for their write, chained in order
        public int DurableAcksPending;
    }
}

using System.Net;
using Broker.Protocol;

namespace Broker.Bench;

/// <summary>The scenarios (<c>bench --help</c>).</summary>
internal enum Scenario
{
    FanIn,
    FanOut,
    P2p,
    Conn,
    Convergence,
}

/// <summary>Everything one run needs, parsed from the command line.</summary>
internal sealed record BenchSettings
{
    public required Scenario Scenario { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 1883;

    /// <summary>tcp, tls, ws or wss (--transport); WebSockets upgrade on <see cref="WsPath"/>.</summary>
    public Client.TransportKind Transport { get; init; } = Client.TransportKind.Tcp;

    public string WsPath { get; init; } = "/mqtt";

    /// <summary>--sub-host: the broker the subscribers connect to; null = <see cref="Host"/> (one broker).</summary>
    public string? SubHost { get; init; }

    /// <summary>--sub-port: the subscribers' broker port; null = <see cref="Port"/>.</summary>
    public int? SubPort { get; init; }

    public string SubscriberHost => SubHost ?? Host;

    public int SubscriberPort => SubPort ?? Port;

    /// <summary>True when the subscribers talk to another broker than the publishers (a cluster's other node).</summary>
    public bool SplitBrokers => SubscriberHost != Host || SubscriberPort != Port;

    /// <summary>
    /// --settle: the pause between the last subscriber's SUBACK and the first publish; null = 1 s when the subscribers
    /// are on another broker (so the route reaches the publishers' node before the first message), else none.
    /// </summary>
    public TimeSpan? Settle { get; init; }

    public TimeSpan SettleTime => Settle ?? (SplitBrokers ? TimeSpan.FromSeconds(1) : TimeSpan.Zero);

    /// <summary>What each connection is given to reach the broker (the publishers').</summary>
    public Client.BenchTransport TransportFor() => TransportFor(Host);

    /// <summary>What each connection is given to reach the broker named <paramref name="host"/>.</summary>
    public Client.BenchTransport TransportFor(string host) =>
        Transport == Client.TransportKind.Tcp ? Client.BenchTransport.Tcp : new(Transport, host, WsPath);

    /// <summary>--ifaddr: local addresses connections are bound to, in turn; empty = the kernel chooses.</summary>
    public IReadOnlyList<IPAddress> LocalAddresses { get; init; } = [];
    public MqttProtocolVersion Version { get; init; } = MqttProtocolVersion.V311;
    public int Qos { get; init; }
    public int Size { get; init; } = 64;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Offered messages per second over all publishers; 0 = as fast as possible.</summary>
    public double Rate { get; init; }

    public int Inflight { get; init; } = 32;

    /// <summary>How a fixed rate is paced (<see cref="Measure.UncoordinatedPacer"/> or the ticked <see cref="Measure.Pacer"/>).</summary>
    public Pacing Pacing { get; init; } = Pacing.Uncoordinated;
    public int Publishers { get; init; } = 1;
    public int Subscribers { get; init; } = 1;

    /// <summary>Traffic scenarios: filters on unrelated topics held by extra, idle connections during the run.</summary>
    public int IdleSubscriptions { get; init; }

    /// <summary>How many connections share <see cref="IdleSubscriptions"/> (fewer if there are fewer filters).</summary>
    public int IdleConnections { get; init; } = 100;

    /// <summary>Every connection keeps a persistent session (--persistent-sessions).</summary>
    public bool PersistentSessions { get; init; }

    /// <summary>conn: the filter each connection subscribes to (QoS 1) after its CONNACK (--subscribe), or null.</summary>
    public string? SubscribeFilter { get; init; }

    public int Connections { get; init; } = 1000;
    public double ConnectRate { get; init; } = 1000;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>conn: connection attempts awaiting their CONNACK at once; pacing waits while this many are open.</summary>
    public int MaxPendingConnects { get; init; } = 1000;
    public ushort KeepAlive { get; init; } = 60;
    public string? Username { get; init; }
    public string? Password { get; init; }

    /// <summary>
    /// conn: the user name and password of the <paramref name="index"/>-th connection, <c>{n}</c> replaced by its
    /// number, so one run can be a fleet of distinct users (a reconnect storm against a password file).
    /// </summary>
    public (string? Username, string? Password) CredentialsFor(int index)
    {
        var n = index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return (Username?.Replace("{n}", n, StringComparison.Ordinal), Password?.Replace("{n}", n, StringComparison.Ordinal));
    }
    /// <summary>--broker-pid: the broker processes whose CPU and RSS are read (summed; each one also reported).</summary>
    public IReadOnlyList<int> BrokerPids { get; init; } = [];

    /// <summary>convergence: rounds of subscribe-then-publish-until-delivered (--rounds).</summary>
    public int Rounds { get; init; } = 100;

    /// <summary>convergence: time between two publishes while waiting for the first delivery (--interval).</summary>
    public TimeSpan PublishInterval { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>convergence: a round that got nothing within this time counts as a timeout (--round-timeout).</summary>
    public TimeSpan RoundTimeout { get; init; } = TimeSpan.FromSeconds(5);
    public bool Json { get; init; }
    public bool Quiet { get; init; }

    /// <summary>Label put in the report (e.g. the broker's name in compare.sh).</summary>
    public string? Label { get; init; }

    /// <summary>The local address for the <paramref name="index"/>-th connection of a run, or null.</summary>
    public IPAddress? LocalAddress(int index) => LocalAddresses.Count == 0 ? null : LocalAddresses[index % LocalAddresses.Count];

    public string VersionText => Version == MqttProtocolVersion.V500 ? "5" : "3.1.1";

    /// <summary>The publishers' broker (--host, --port).</summary>
    public Task<EndPoint> ResolveAsync(CancellationToken cancellationToken) => ResolveAsync(Host, Port, "--host", cancellationToken);

    /// <summary>The subscribers' broker (--sub-host, --sub-port; by default the publishers').</summary>
    public Task<EndPoint> ResolveSubscriberAsync(CancellationToken cancellationToken) =>
        ResolveAsync(SubscriberHost, SubscriberPort, SubHost is null ? "--host" : "--sub-host", cancellationToken);

    private static async Task<EndPoint> ResolveAsync(string host, int port, string option, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var address))
            return new IPEndPoint(address, port);
        var addresses = await Dns.GetHostAddressesAsync(host, System.Net.Sockets.AddressFamily.InterNetwork, cancellationToken).ConfigureAwait(false);
        if (addresses.Length == 0)
            throw new Client.BenchException($"{option} {host}: no IPv4 address");
        return new IPEndPoint(addresses[0], port);
    }
}

/// <summary>How fixed-rate publishers are paced.</summary>
internal enum Pacing
{
    /// <summary>Each publisher alone, at its own scheduled times (devices on their own clocks).</summary>
    Uncoordinated,

    /// <summary>Every publisher due in a 1 ms tick, woken together and sent in turn.</summary>
    Ticked,
}

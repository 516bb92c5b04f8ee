using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Broker.Bench.Client;
using Broker.Protocol;

namespace Broker.Bench.Scenarios;

/// <summary>
/// <c>--idle-subscriptions N</c>: before the traffic starts, K extra connections subscribe (QoS 0) to N filters on
/// topics no message of the run is published to, and stay connected (pinged) until the run ends. They show what a
/// large, quiet subscription table costs the traffic: the broker has to route every message past them.
/// </summary>
/// <remarks>
/// Connection c gets N/K filters (the first N mod K one more) under <c>idle/&lt;run&gt;/&lt;c&gt;/</c>, a mix like a
/// real fleet's, mostly exact: of every 100 filters, 90 are exact (<c>idle/&lt;run&gt;/c/i</c>), 9 have a
/// single-level wildcard (<c>idle/&lt;run&gt;/c/+/i</c>) and 1 ends in a multi-level one (<c>idle/&lt;run&gt;/c/i/#</c>),
/// so both the exact index and the wildcard trie of a router are filled. The traffic's topics are all under
/// <c>bench/&lt;run&gt;/</c>, so none of these filters matches a message. Filters are sent many per SUBSCRIBE,
/// each packet at most <see cref="DefaultMaxPacketSize"/> bytes (less if an MQTT 5 broker's Maximum Packet Size is
/// smaller), one packet in flight per connection; every filter must be granted or the run stops.
/// </remarks>
internal sealed class IdleSubscriptions(BenchSettings settings, string runId, TextWriter? progress) : IAsyncDisposable
{
    /// <summary>Largest SUBSCRIBE sent: far below any broker's default limit (ours 1 MB, mosquitto none).</summary>
    public const int DefaultMaxPacketSize = 16 * 1024;

    private const int Parallelism = 64;

    private readonly List<BenchConnection> _connections = [];
    private readonly CountingSink _sink = new();
    private Pinger? _pinger;

    /// <summary>Connections that hold the filters (0 when there are none).</summary>
    public int Connections => _connections.Count;

    /// <summary>Seconds from the first connect to the last SUBACK.</summary>
    public double SetupSeconds { get; private set; }

    /// <summary>PUBLISH packets the idle connections received: anything but 0 means a filter matched the traffic.</summary>
    public long Deliveries => _sink.Count;

    /// <summary>Idle connections that ended before the run did.</summary>
    public int Disconnected => _connections.Count(c => c.Failure is not null);

    public string? FirstFailure => _connections.Select(c => c.Failure is null ? null : $"{c.ClientId}: {c.Failure}").FirstOrDefault(f => f is not null);

    /// <summary>How many connections hold <paramref name="subscriptions"/> filters: never more than one per filter.</summary>
    public static int ConnectionCount(int subscriptions, int connections) => Math.Min(subscriptions, connections);

    /// <summary>The filters of idle connection <paramref name="connection"/> of <paramref name="connections"/>.</summary>
    public static List<string> Filters(string runId, int connection, int connections, int subscriptions)
    {
        var count = subscriptions / connections + (connection < subscriptions % connections ? 1 : 0);
        var prefix = string.Create(CultureInfo.InvariantCulture, $"idle/{runId}/{connection}/");
        var filters = new List<string>(count);
        for (var i = 0; i < count; i++)
            filters.Add(Filter(prefix, i));
        return filters;
    }

    private static string Filter(string prefix, int i) => (i % 100) switch
    {
        99 => string.Create(CultureInfo.InvariantCulture, $"{prefix}{i}/#"),
        >= 90 => string.Create(CultureInfo.InvariantCulture, $"{prefix}+/{i}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{prefix}{i}"),
    };

    /// <summary>
    /// Bytes of a SUBSCRIBE (fixed header included) carrying <paramref name="filters"/>, as
    /// <see cref="MqttPacketWriter"/> writes it: packet id, MQTT 5's empty property length, then per filter a
    /// length-prefixed UTF-8 string and an options byte.
    /// </summary>
    public static int SubscribeSize(IEnumerable<string> filters, bool v5)
    {
        var remaining = 2 + (v5 ? 1 : 0);
        foreach (var filter in filters)
            remaining += FilterSize(filter);
        return 1 + Frames.VariableByteIntegerSize(remaining) + remaining;
    }

    private static int FilterSize(string filter) => 2 + Encoding.UTF8.GetByteCount(filter) + 1;

    /// <summary>
    /// Splits <paramref name="filters"/>, in order, into as few SUBSCRIBE packets as fit in
    /// <paramref name="maxPacketSize"/> bytes each (a packet holds at least one filter).
    /// </summary>
    public static List<List<string>> Batches(IReadOnlyList<string> filters, int maxPacketSize, bool v5)
    {
        var batches = new List<List<string>>();
        var batch = new List<string>();
        var remaining = 2 + (v5 ? 1 : 0);
        foreach (var filter in filters)
        {
            var size = FilterSize(filter);
            var next = remaining + size;
            if (batch.Count > 0 && 1 + Frames.VariableByteIntegerSize(next) + next > maxPacketSize)
            {
                batches.Add(batch);
                batch = [];
                next = 2 + (v5 ? 1 : 0) + size;
            }
            batch.Add(filter);
            remaining = next;
        }
        if (batch.Count > 0)
            batches.Add(batch);
        return batches;
    }

    /// <summary>Connects the idle connections, subscribes every filter and starts pinging them.</summary>
    public async Task SetUpAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        var connections = ConnectionCount(settings.IdleSubscriptions, settings.IdleConnections);
        if (connections == 0)
            return;
        var clock = Stopwatch.StartNew();
        for (var c = 0; c < connections; c++)
            _connections.Add(new BenchConnection($"bench-{runId}-idle-{c}", settings.Version, 4 * 1024, _sink, settings.LocalAddress(c)) { Transport = settings.TransportFor() });
        await Parallel.ForAsync(0, connections, Options(cancellationToken), async (c, ct) =>
            {
                var connection = _connections[c];
                try
                {
                    await connection.ConnectAsync(endpoint, settings.KeepAlive, settings.Username, settings.Password,
                        settings.ConnectTimeout, ct).ConfigureAwait(false);
                    var filters = Filters(runId, c, connections, settings.IdleSubscriptions);
                    var limit = (int)Math.Min(DefaultMaxPacketSize, connection.MaximumPacketSize);
                    foreach (var batch in Batches(filters, limit, settings.Version == MqttProtocolVersion.V500))
                        await connection.SubscribeAsync(batch, MqttQos.AtMostOnce, settings.ConnectTimeout, ct).ConfigureAwait(false);
                }
                catch (BenchException ex)
                {
                    throw new BenchException($"idle subscriptions, {connection.ClientId}: {ex.Message}");
                }
            })
            .ConfigureAwait(false);
        _pinger = new Pinger(_connections, settings.KeepAlive);
        SetupSeconds = clock.Elapsed.TotalSeconds;
        progress?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"subscribed {settings.IdleSubscriptions} idle filter(s) on {connections} connection(s) in {SetupSeconds:0.00}s"));
    }

    public async ValueTask DisposeAsync()
    {
        _pinger?.Dispose();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Parallel.ForEachAsync(_connections, Options(CancellationToken.None), async (connection, _) =>
            {
                try
                {
                    await connection.DisconnectAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (BenchException)
                {
                    // Never connected, or already gone: closing anyway.
                }
                await connection.DisposeAsync().ConfigureAwait(false);
            })
            .ConfigureAwait(false);
    }

    private static ParallelOptions Options(CancellationToken cancellationToken) =>
        new() { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken };

    /// <summary>Counts what reaches the idle connections (nothing should).</summary>
    private sealed class CountingSink : IDeliverySink
    {
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public void OnPublish(ReadOnlySpan<byte> payload, long receivedAt) => Interlocked.Increment(ref _count);
    }
}

using System.Diagnostics;
using Broker.Bench.Client;

namespace Broker.Bench.Measure;

/// <summary>
/// The bookkeeping of one receiving connection: a <see cref="SequenceTracker"/> per publisher heard from, and the
/// latency of each first delivery whose send time falls in the measured window. Runs on the connection's receive
/// loop only; the counters are read by the progress line with <see cref="Volatile"/>.
/// </summary>
internal sealed class DeliveryRecorder(uint magic, RunClock clock) : IDeliverySink
{
    private readonly Dictionary<int, SequenceTracker> _trackers = [];
    private int _lastPublisher = -1;
    private SequenceTracker? _lastTracker;
    private long _received;
    private long _duplicates;
    private long _foreign;

    public LatencyHistogram Latency { get; } = new();

    /// <summary>First deliveries (duplicates not counted).</summary>
    public long Received => Volatile.Read(ref _received);

    public long Duplicates => Volatile.Read(ref _duplicates);

    /// <summary>Messages without this run's stamp (another client publishing on the same topics).</summary>
    public long Foreign => Volatile.Read(ref _foreign);

    public void OnPublish(ReadOnlySpan<byte> payload, long receivedAt)
    {
        if (!BenchPayload.TryRead(payload, magic, out var publisher, out var sequence, out var sentAt) || sequence > int.MaxValue * 64L)
        {
            Volatile.Write(ref _foreign, _foreign + 1);
            return;
        }
        var tracker = TrackerFor(publisher);
        if (!tracker.Record(sequence))
        {
            Volatile.Write(ref _duplicates, _duplicates + 1);
            return;
        }
        Volatile.Write(ref _received, _received + 1);
        if (clock.InWindow(sentAt))
            Latency.Record((receivedAt - sentAt) * 1_000_000 / Stopwatch.Frequency);
    }

    /// <summary>What this receiver saw of <paramref name="publisher"/>; null if nothing.</summary>
    public SequenceTracker? Find(int publisher) => _trackers.GetValueOrDefault(publisher);

    public long OutOfOrder
    {
        get
        {
            long total = 0;
            foreach (var tracker in _trackers.Values)
                total += tracker.OutOfOrder;
            return total;
        }
    }

    private SequenceTracker TrackerFor(int publisher)
    {
        if (publisher == _lastPublisher)
            return _lastTracker!;
        if (!_trackers.TryGetValue(publisher, out var tracker))
            _trackers[publisher] = tracker = new SequenceTracker();
        _lastPublisher = publisher;
        _lastTracker = tracker;
        return tracker;
    }
}

/// <summary>
/// The measured window in <see cref="Stopwatch"/> ticks, fixed once every client is connected; until then nothing is
/// in it.
/// </summary>
internal sealed class RunClock
{
    private long _windowStart = long.MaxValue;
    private long _windowEnd = long.MaxValue;

    public long WindowStart => Volatile.Read(ref _windowStart);

    public long WindowEnd => Volatile.Read(ref _windowEnd);

    public void Set(long windowStart, long windowEnd)
    {
        Volatile.Write(ref _windowEnd, windowEnd);
        Volatile.Write(ref _windowStart, windowStart);
    }

    public bool InWindow(long timestamp) => timestamp >= WindowStart && timestamp < WindowEnd;

    public static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    public static TimeSpan Until(long timestamp)
    {
        var ticks = timestamp - Stopwatch.GetTimestamp();
        return ticks <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(ticks / (double)Stopwatch.Frequency);
    }
}

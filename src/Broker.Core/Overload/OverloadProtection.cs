using Broker.Core.Sessions;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Overload;

/// <summary>
/// The broker-wide memory watermark (EMQX's <c>overload_protection</c>, mosquitto's <c>memory_limit</c>): every
/// <c>overload_protection.check_interval</c> it adds up the bytes every session holds for its client (queue and QoS 0
/// backlog, <see cref="Session.HeldBytes"/>). Above <c>overload_protection.high_watermark</c> the broker is
/// overloaded until the total falls to <c>overload_protection.low_watermark</c>; meanwhile:
/// <list type="bullet">
/// <item>new connections are refused (<see cref="IsActive"/>, read by the CONNECT handler: MQTT 5 CONNACK 0x89
/// Server busy, MQTT 3.x closed);</item>
/// <item>publishers feeding one of the <see cref="LargestQueues"/> largest queues of connected subscribers (each
/// holding at least 1/<see cref="LargestShare"/> of the total, so a healthy subscriber's passing message never counts)
/// wait for it before their connection reads on (<see cref="PauseAbove"/>, bounded per message by
/// <c>session.backpressure_timeout</c>; never for a slow subscriber, which drops or is disconnected instead);</item>
/// <item>the alarm <see cref="AlarmName"/> is active (management API, <c>ctl alarms list</c>, $SYS).</item>
/// </list>
/// Nothing here runs per message: a delivery reads one flag, and the measurement walks the sessions once per check.
/// </summary>
internal sealed partial class OverloadProtection : IDisposable
{
    public const string AlarmName = "high_memory_usage";
    public const int LargestQueues = 10;
    public const int LargestShare = 4 * LargestQueues;

    private readonly BrokerEngine _engine;
    private readonly ILogger _logger;
    private ITimer? _timer;
    private volatile bool _active;
    private long _pauseAbove = long.MaxValue;
    private long _heldBytes;
    private long _refused;
    private int _checking;

    public OverloadProtection(BrokerEngine engine)
    {
        _engine = engine;
        _logger = engine.LoggerFactory.CreateLogger("Broker.Core.Overload");
    }

    /// <summary>Whether the broker is overloaded now (between the high and the low watermark, coming from above).</summary>
    public bool IsActive => _active;

    /// <summary>While <see cref="IsActive"/>: a session holding at least this many bytes is one of the largest queues.</summary>
    public long PauseAbove => Volatile.Read(ref _pauseAbove);

    /// <summary>Bytes held for clients at the last check.</summary>
    public long HeldBytes => Volatile.Read(ref _heldBytes);

    /// <summary>Connections refused because the broker was overloaded.</summary>
    public long RefusedConnections => Volatile.Read(ref _refused);

    public void Start()
    {
        var options = _engine.BrokerOptions;
        if (options.OverloadHighWatermark > 0)
            _timer = _engine.TimeProvider.CreateTimer(static s => ((OverloadProtection)s!).Tick(), this, options.OverloadCheckInterval, options.OverloadCheckInterval);
    }

    private void Tick()
    {
        // A check slower than the interval is not run twice at once; a failure is logged, never thrown on a timer thread.
        if (Interlocked.Exchange(ref _checking, 1) != 0)
            return;
        try
        {
            Check();
        }
        catch (Exception ex)
        {
            LogCheckFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    /// <summary>A CONNECT refused while overloaded: counted, and logged as the throttle allows.</summary>
    public void Refused(string clientId)
    {
        Interlocked.Increment(ref _refused);
        if (_engine.LogThrottle.ShouldLog(71, nameof(LogRefused), clientId))
            LogRefused(_logger, clientId);
    }

    /// <summary>Measures once and raises or clears the overload (the timer's callback; tests call it directly).</summary>
    public void Check()
    {
        var options = _engine.BrokerOptions;
        if (options.OverloadHighWatermark <= 0)
            return;
        // The held bytes of the largest queues, smallest on top: its top is the LargestQueues-th largest.
        var largest = new PriorityQueue<long, long>(LargestQueues + 1);
        long total = 0;
        foreach (var session in _engine.Sessions.Enumerate())
        {
            var held = session.HeldBytes;
            if (held <= 0)
                continue;
            total += held;
            largest.Enqueue(held, held);
            if (largest.Count > LargestQueues)
                largest.Dequeue();
        }
        Volatile.Write(ref _heldBytes, total);

        if (!_active && total >= options.OverloadHighWatermark)
        {
            Volatile.Write(ref _pauseAbove, PauseThreshold(largest, total));
            _active = true;
            var heap = GC.GetGCMemoryInfo().HeapSizeBytes;
            LogOverloaded(_logger, total, options.OverloadHighWatermark, heap);
            _engine.Alarms.Activate(AlarmName,
                $"The broker holds {total} bytes for its clients, above overload_protection.high_watermark ({options.OverloadHighWatermark}): new connections are refused and publishers feeding the largest queues are slowed",
                new Dictionary<string, long>(StringComparer.Ordinal)
                {
                    ["held_bytes"] = total,
                    ["high_watermark"] = options.OverloadHighWatermark,
                    ["low_watermark"] = options.OverloadLowWatermark,
                    ["heap_bytes"] = heap,
                });
        }
        else if (_active && total <= options.OverloadLowWatermark)
        {
            _active = false;
            Volatile.Write(ref _pauseAbove, long.MaxValue);
            LogRecovered(_logger, total, options.OverloadLowWatermark, RefusedConnections);
            _engine.Alarms.Deactivate(AlarmName);
            foreach (var session in _engine.Sessions.Enumerate())
                session.ReleaseWaiters();
        }
        else if (_active && largest.Count > 0)
        {
            Volatile.Write(ref _pauseAbove, PauseThreshold(largest, total));
        }
    }

    private static long PauseThreshold(PriorityQueue<long, long> largest, long total) =>
        Math.Max(Math.Max(largest.Peek(), total / LargestShare), 1);

    public void Dispose() => _timer?.Dispose();

    [LoggerMessage(EventId = 70, Level = LogLevel.Warning, Message = "Overloaded: {HeldBytes} bytes held for clients, above overload_protection.high_watermark ({HighWatermark}); GC heap {HeapBytes} bytes. New connections are refused and publishers feeding the largest queues are slowed until the low watermark")]
    private static partial void LogOverloaded(ILogger logger, long heldBytes, long highWatermark, long heapBytes);

    [LoggerMessage(EventId = 71, Level = LogLevel.Information, Message = "Client {ClientId} refused: the broker is overloaded (overload_protection.high_watermark)")]
    private static partial void LogRefused(ILogger logger, string clientId);

    [LoggerMessage(EventId = 73, Level = LogLevel.Error, Message = "The overload check failed")]
    private static partial void LogCheckFailed(ILogger logger, Exception ex);

    [LoggerMessage(EventId = 72, Level = LogLevel.Warning, Message = "No longer overloaded: {HeldBytes} bytes held for clients, at or below overload_protection.low_watermark ({LowWatermark}); {Refused} connections were refused so far")]
    private static partial void LogRecovered(ILogger logger, long heldBytes, long lowWatermark, long refused);
}

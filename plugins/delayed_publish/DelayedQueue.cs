using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.DelayedPublish;

/// <summary>One pending delayed message: the message as it will be published (target topic) and when.</summary>
/// <param name="Due">When to publish it.</param>
/// <param name="Message">The message, already carrying its target topic and its original timestamp.</param>
/// <param name="Key">In a cluster: its key in the replicated store (<see cref="DelayedCluster"/>); null for a message this node alone holds.</param>
/// <param name="Revision">In a cluster: the store's revision of it, which the node that publishes it deletes.</param>
/// <param name="Origin">In a cluster: the node it was published to.</param>
internal sealed record DelayedEntry(DateTimeOffset Due, BrokerMessage Message, string? Key = null, ulong Revision = 0, string? Origin = null)
{
    /// <summary>Due time and message, as the entry was before the cluster's fields were added.</summary>
    public void Deconstruct(out DateTimeOffset due, out BrokerMessage message) => (due, message) = (Due, Message);
}

/// <summary>What a node does with a replicated delayed message that is due (<see cref="DelayedQueue"/>'s claim).</summary>
internal enum ClaimResult
{
    /// <summary>This node claimed it: publish it.</summary>
    Publish,

    /// <summary>Another node has published it, or will: forget it.</summary>
    Drop,

    /// <summary>Not decided yet (its origin still runs, or NATS does not answer): ask again a little later.</summary>
    Later,
}

/// <summary>What <see cref="DelayedQueue.TrySchedule(BrokerMessage, DateTimeOffset, int)"/> did.</summary>
internal enum ScheduleResult
{
    /// <summary>Queued; it will be published when due.</summary>
    Scheduled,

    /// <summary>max_delayed_messages are already pending.</summary>
    Full,

    /// <summary>The queue has been handed over or is stopping; it takes nothing more.</summary>
    Sealed,
}

/// <summary>
/// The pending delayed messages, earliest first, and the one timer that fires when the earliest falls due.
/// </summary>
/// <remarks>
/// <para>A priority queue ordered by (due time, arrival) holds every message; the single timer is armed for the head
/// only, and re-armed whenever the head changes (a new earliest message, or the head published). The timer's
/// callback only signals; one loop (<see cref="RunAsync"/>) takes due messages one at a time and publishes each,
/// so messages due together go out in the order they were accepted and no two publishes of this queue overlap.</para>
/// <para>Thread-safe: the queue is touched only under <see cref="_lock"/>; publishing happens outside it.</para>
/// <para><see cref="Seal"/> ends the queue's life: it returns what is still pending (for a successor instance or for
/// disk), and from then on nothing is taken in or published, except the one publish that may be under way, which
/// <see cref="StopAsync"/> waits for. So every message is published by exactly one owner.</para>
/// </remarks>
internal sealed partial class DelayedQueue
{
    // Timer due times are limited to 2^32 - 2 ms; a head further away than this is re-armed when the timer fires.
    private static readonly TimeSpan s_longestTimer = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly Lock _lock = new();
    private readonly PriorityQueue<DelayedEntry, (DateTimeOffset Due, long Sequence)> _queue = new();
    private readonly TimeProvider _time;
    private readonly Func<BrokerMessage, ValueTask> _publish;
    private readonly Action<int> _countChanged;
    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private readonly Func<DelayedEntry, ValueTask<ClaimResult>>? _claim;
    private long _sequence;
    private bool _sealed;
    private Task _loop = Task.CompletedTask;

    /// <param name="time">The broker's clock: the timer is made from it.</param>
    /// <param name="publish">Publishes one due message (the broker's PublishAsync); exceptions are logged.</param>
    /// <param name="countChanged">Told the number of pending messages whenever it changes (called under the lock: keep it cheap).</param>
    /// <param name="logger">For failed publishes and expired messages.</param>
    /// <param name="claim">For entries with a store key (a cluster): decides, when one is due, whether this node publishes it.</param>
    public DelayedQueue(TimeProvider time, Func<BrokerMessage, ValueTask> publish, Action<int> countChanged, ILogger logger,
        Func<DelayedEntry, ValueTask<ClaimResult>>? claim = null)
    {
        _claim = claim;
        _time = time;
        _publish = publish;
        _countChanged = countChanged;
        _logger = logger;
        _timer = time.CreateTimer(static state => ((DelayedQueue)state!).Signal(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Messages pending (not counting one being published).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _queue.Count;
        }
    }

    /// <summary>True once <see cref="Seal"/> has run.</summary>
    public bool IsSealed
    {
        get
        {
            lock (_lock)
                return _sealed;
        }
    }

    /// <summary>Starts the publishing loop and arms the timer for what is already queued.</summary>
    public void Start()
    {
        _loop = RunAsync();
        lock (_lock)
            ArmLocked();
    }

    /// <summary>Queues <paramref name="message"/> for <paramref name="due"/>, unless <paramref name="limit"/> (0 = none) messages are pending.</summary>
    public ScheduleResult TrySchedule(BrokerMessage message, DateTimeOffset due, int limit)
    {
        lock (_lock)
        {
            if (_sealed)
                return ScheduleResult.Sealed;
            if (limit > 0 && _queue.Count >= limit)
                return ScheduleResult.Full;
            EnqueueLocked(new DelayedEntry(due, message));
            _countChanged(_queue.Count);
            return ScheduleResult.Scheduled;
        }
    }

    /// <summary>Queues <paramref name="entry"/> (a cluster's, with its store key), unless <paramref name="limit"/> (0 = none) messages are pending.</summary>
    public ScheduleResult TrySchedule(DelayedEntry entry, int limit)
    {
        lock (_lock)
        {
            if (_sealed)
                return ScheduleResult.Sealed;
            if (limit > 0 && _queue.Count >= limit)
                return ScheduleResult.Full;
            EnqueueLocked(entry);
            _countChanged(_queue.Count);
            return ScheduleResult.Scheduled;
        }
    }

    /// <summary>Queues messages handed over by a predecessor or read from disk, whatever the limit: accepted once, they are kept.</summary>
    public void Restore(IEnumerable<DelayedEntry> entries)
    {
        if (!TryRestore(entries))
            throw new InvalidOperationException("the queue is sealed");
    }

    /// <summary>Like <see cref="Restore"/>, but false (and nothing queued) when the queue is already sealed.</summary>
    public bool TryRestore(IEnumerable<DelayedEntry> entries)
    {
        lock (_lock)
        {
            if (_sealed)
                return false;
            foreach (var entry in entries)
                EnqueueLocked(entry);
            _countChanged(_queue.Count);
            return true;
        }
    }

    /// <summary>
    /// Takes every pending message out, earliest first, and stops taking in or publishing any. Idempotent: a second
    /// call returns nothing.
    /// </summary>
    public List<DelayedEntry> Seal()
    {
        lock (_lock)
        {
            var entries = new List<DelayedEntry>(_queue.Count);
            if (_sealed)
                return entries;
            _sealed = true;
            while (_queue.TryDequeue(out var entry, out _))
                entries.Add(entry);
            _timer.Dispose();
            _signal.Writer.TryComplete();
            return entries;
        }
    }

    /// <summary>Seals the queue (see <see cref="Seal"/>) and waits for a publish under way; returns what was pending.</summary>
    public async Task<List<DelayedEntry>> StopAsync()
    {
        var entries = Seal();
        await _loop.ConfigureAwait(false);
        return entries;
    }

    private void EnqueueLocked(DelayedEntry entry)
    {
        var wasHead = _queue.TryPeek(out var head, out _) ? head : null;
        _queue.Enqueue(entry, (entry.Due, _sequence++));
        if (wasHead is null || entry.Due < wasHead.Due)
            ArmLocked();
    }

    /// <summary>Arms the timer for the head (or disarms it). With a due time in the past, the timer fires at once.</summary>
    private void ArmLocked()
    {
        if (_sealed)
            return;
        if (!_queue.TryPeek(out var head, out _))
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }
        var wait = head.Due - _time.GetUtcNow();
        if (wait < TimeSpan.Zero)
            wait = TimeSpan.Zero;
        else if (wait > s_longestTimer)
            wait = s_longestTimer;
        _timer.Change(wait, Timeout.InfiniteTimeSpan);
    }

    private void Signal() => _signal.Writer.TryWrite(true);

    private bool TryTakeDue(out DelayedEntry entry)
    {
        lock (_lock)
        {
            if (!_sealed && _queue.TryPeek(out entry!, out _) && entry.Due <= _time.GetUtcNow())
            {
                _queue.Dequeue();
                _countChanged(_queue.Count);
                return true;
            }
            ArmLocked();
            entry = null!;
            return false;
        }
    }

    private async Task RunAsync()
    {
        await Task.Yield();
        var reader = _signal.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            reader.TryRead(out _);
            while (TryTakeDue(out var entry))
                await PublishAsync(entry).ConfigureAwait(false);
        }
    }

    /// <summary>How long a due replicated message waits before its claim is tried again (<see cref="ClaimResult.Later"/>).</summary>
    internal static readonly TimeSpan ClaimRetry = TimeSpan.FromMilliseconds(250);

    private async ValueTask PublishAsync(DelayedEntry entry)
    {
        if (entry.Key is not null && _claim is { } claim)
        {
            ClaimResult result;
            try
            {
                result = await claim(entry).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogPublishFailed(_logger, ex, entry.Message.Topic);
                result = ClaimResult.Later;
            }
            if (result == ClaimResult.Drop)
                return;
            if (result == ClaimResult.Later)
            {
                lock (_lock)
                {
                    if (!_sealed)
                    {
                        EnqueueLocked(entry with { Due = _time.GetUtcNow() + ClaimRetry });
                        _countChanged(_queue.Count);
                    }
                }
                return;
            }
        }
        var message = entry.Message;
        // The expiry interval counts from the original publish [MQTT-3.3.2-5]: a message that outlived it while it
        // waited is deleted, not published.
        if (message.IsExpired(_time.GetUtcNow()))
        {
            LogExpired(_logger, message.Topic, message.PublisherId);
            return;
        }
        try
        {
            await _publish(message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogPublishFailed(_logger, ex, message.Topic);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "delayed_publish: the message to {Topic} from {PublisherId} expired while it waited; not published")]
    private static partial void LogExpired(ILogger logger, string topic, string? publisherId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "delayed_publish: publishing the delayed message to {Topic} failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string topic);
}

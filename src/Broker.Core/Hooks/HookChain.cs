using System.Collections.Concurrent;
using System.Diagnostics;
using Broker.Abstractions.Hooks;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Hooks;

/// <summary>
/// The callbacks of one hook point. Registered callbacks live in an immutable array swapped on change, so
/// <see cref="RunAsync"/> reads without a lock and costs one branch when nothing is registered.
/// </summary>
/// <remarks>
/// Every context type derives from <see cref="HookContext"/> (the SDK's registration signature only says
/// <c>class</c>); the chain tells it which callback runs, for <see cref="HookContext.CancellationToken"/>. Each call is
/// timed on the calling thread (a connection's I/O thread, mostly) and counted against its owner
/// (<see cref="HookStats"/>); a <see cref="HookOptions.Blocking"/> callback is called on the thread pool instead.
/// </remarks>
internal sealed class HookChain<TContext> : IHookChain where TContext : class
{
    private readonly Lock _writeLock = new();
    private readonly HookRunner _runner;
    private readonly Action<TContext>? _onFailure;
    private Entry[] _entries = [];
    private long _sequence;

    public HookChain(HookPoint<TContext> point, HookRunner runner, Action<TContext>? onFailure)
    {
        Point = point;
        _runner = runner;
        _onFailure = onFailure;
    }

    public HookPoint<TContext> Point { get; }

    HookPoint IHookChain.Point => Point;

    public bool IsEmpty => Volatile.Read(ref _entries).Length == 0;

    /// <summary>Called after a callback is added or removed (the engine re-authorizes subscriptions then).</summary>
    public Action? Changed { get; set; }

    public int Count => Volatile.Read(ref _entries).Length;

    public IDisposable Add(HookCallback<TContext> callback, int priority, string owner) =>
        Add(callback, new HookOptions { Priority = priority }, owner);

    public IDisposable Add(HookCallback<TContext> callback, HookOptions options, string owner)
    {
        if (options.Timeout is { } t && t <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(options), "a hook timeout must be positive");
        var priority = options.Priority;
        var entry = new Entry(callback, priority, owner, Interlocked.Increment(ref _sequence),
            options.Timeout ?? _runner.Timeout, options.OnFailure, options.Blocking, _runner.StatsOf(owner));
        lock (_writeLock)
        {
            var current = _entries;
            var next = new Entry[current.Length + 1];
            // Higher priority first; equal priorities keep registration order.
            var i = 0;
            while (i < current.Length && current[i].Priority >= priority)
            {
                next[i] = current[i];
                i++;
            }
            next[i] = entry;
            Array.Copy(current, i, next, i + 1, current.Length - i);
            Volatile.Write(ref _entries, next);
        }
        Changed?.Invoke();
        return new Registration(this, entry);
    }

    public IReadOnlyList<HookCalls> RemoveOwner(string owner) => RemoveWhere(e => e.Owner != owner);

    private void Remove(Entry entry) => RemoveWhere(e => !ReferenceEquals(e, entry));

    /// <summary>Removes the entries <paramref name="keep"/> refuses and marks them removed; returns them.</summary>
    private Entry[] RemoveWhere(Predicate<Entry> keep)
    {
        Entry[] removed;
        lock (_writeLock)
        {
            var current = _entries;
            removed = Array.FindAll(current, e => !keep(e));
            if (removed.Length == 0)
                return removed;
            Volatile.Write(ref _entries, Array.FindAll(current, keep));
            foreach (var entry in removed)
                entry.MarkRemoved();
        }
        Changed?.Invoke();
        return removed;
    }

    /// <summary>
    /// Where a run goes on after finding <paramref name="removed"/> gone from the chain it read: the current chain,
    /// from the first entry that sorts after it. A reload's new instance (registered after the old one, at its
    /// priority) is there, so a CONNECT that read the chain before the swap is answered by the new instance, never by
    /// a stopped one and never by the next source alone.
    /// </summary>
    private (Entry[] Entries, int Index) After(Entry removed)
    {
        var current = Volatile.Read(ref _entries);
        var i = 0;
        while (i < current.Length && (current[i].Priority > removed.Priority
            || (current[i].Priority == removed.Priority && current[i].Sequence < removed.Sequence)))
            i++;
        return (current, i);
    }

    /// <summary>
    /// Runs the chain in order until a callback stops it. Completes synchronously when every callback does.
    /// A callback that throws or overruns the hook timeout counts as failed: it is logged against its owner,
    /// the hook point's failure action runs (deny, for access control) and the chain stops. A callback removed since
    /// the run began is not called (see <see cref="After"/>).
    /// </summary>
    public ValueTask<HookResult> RunAsync(TContext context)
    {
        var entries = Volatile.Read(ref _entries);
        var hooked = (HookContext)(object)context;
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            if (!entry.TryEnter(out var slot))
            {
                (entries, i) = After(entry);
                i--;
                continue;
            }
            ValueTask<HookResult> pending;
            hooked.BeginCallback(entry.Timeout, _runner.TimeProvider);
            try
            {
                pending = Invoke(entry, context);
            }
            catch (Exception ex)
            {
                entry.Exit(slot);
                hooked.EndCallback();
                if (Fail(entry, context, ex) is { } end)
                    return ValueTask.FromResult(end);
                continue;
            }
            if (!pending.IsCompletedSuccessfully)
                return RunSlowAsync(entries, i, slot, pending, context);
            entry.Exit(slot);
            hooked.EndCallback();
            if (pending.Result == HookResult.Stop)
                return ValueTask.FromResult(HookResult.Stop);
        }
        return ValueTask.FromResult(HookResult.Continue);
    }

    /// <summary><see cref="RunAsync"/> from a callback that did not complete at once (<paramref name="pending"/>, entered in <paramref name="slot"/>).</summary>
    private async ValueTask<HookResult> RunSlowAsync(Entry[] entries, int i, int slot, ValueTask<HookResult> pending, TContext context)
    {
        var hooked = (HookContext)(object)context;
        while (true)
        {
            var entry = entries[i];
            Task<HookResult>? running = null;
            try
            {
                HookResult result;
                if (pending.IsCompletedSuccessfully)
                    result = pending.Result;
                else
                {
                    running = pending.AsTask();
                    result = await running.WaitAsync(entry.Timeout, _runner.TimeProvider).ConfigureAwait(false);
                }
                entry.Exit(slot);
                hooked.EndCallback();
                if (result == HookResult.Stop)
                    return HookResult.Stop;
            }
            catch (Exception ex)
            {
                if (running is { IsCompleted: false })
                {
                    // Timed out: the call goes on, and counts as running (for its removal) until it really ends.
                    ExitWhenDone(running, entry, slot);
                }
                else
                    entry.Exit(slot);
                // Its token fires now, so its backend calls stop.
                hooked.AbandonCallback();
                hooked.EndCallback();
                if (Fail(entry, context, ex) is { } end)
                    return end;
            }

            // The next callback still registered.
            do
            {
                if (++i >= entries.Length)
                    return HookResult.Continue;
                if (entries[i].TryEnter(out slot))
                    break;
                (entries, i) = After(entries[i]);
                i--;
            }
            while (true);
            hooked.BeginCallback(entries[i].Timeout, _runner.TimeProvider);
            try
            {
                pending = Invoke(entries[i], context);
            }
            catch (Exception ex)
            {
                pending = ValueTask.FromException<HookResult>(ex);
            }
        }
    }

    /// <summary>
    /// Calls one callback: on this thread, timed, or, for a blocking one, on the thread pool (what it does there is
    /// not this thread's time). Throws what the callback throws synchronously.
    /// </summary>
    private static ValueTask<HookResult> Invoke(Entry entry, TContext context)
    {
        if (entry.Blocking)
            return Offload(entry, context);
        // One call in SampleEvery is timed and counted for SampleEvery: the clock reads and shared counters of every call
        // cost 5 % of the p2p case (bench/README.md). The countdown is the entry's own, so callbacks that alternate are
        // each sampled; its unsynchronised decrement may skip or repeat a sample under contention, nothing else.
        if (--entry.Countdown > 0)
            return entry.Callback(context);
        entry.Countdown = SampleEvery;
        var start = Stopwatch.GetTimestamp();
        try
        {
            return entry.Callback(context);
        }
        finally
        {
            entry.Stats.Ran(SampleEvery, (Stopwatch.GetTimestamp() - start) * SampleEvery);
        }
    }

    /// <summary>A timed-out call's slot, released when the call really ends (its own method, as <see cref="Offload"/>).</summary>
    private static void ExitWhenDone(Task<HookResult> running, Entry entry, int slot) =>
        _ = running.ContinueWith(_ => entry.Exit(slot), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>
    /// A blocking callback, run on the thread pool. Its own method: a lambda capturing <see cref="Invoke"/>'s
    /// parameters there would make every call allocate the captured pair, blocking or not (bench/README.md, "TLS
    /// connects and the QoS 0 tail").
    /// </summary>
    private static ValueTask<HookResult> Offload(Entry entry, TContext context)
    {
        entry.Stats.Offloaded();
        return new ValueTask<HookResult>(Task.Run(() => entry.Callback(context).AsTask()));
    }

    /// <summary>One call in this many is timed (the first of each entry is), and stands for this many.</summary>
    internal const int SampleEvery = 16;

    /// <summary>Counts and logs the failure; the chain's result when the chain ends here, or null to go on.</summary>
    private HookResult? Fail(Entry entry, TContext context, Exception ex)
    {
        ((HookContext)(object)context).CallbackFailed = true;
        _runner.ReportFailure(Point, entry.Stats, ex, entry.Timeout);
        switch (entry.OnFailure)
        {
            case HookFailureAction.Ignore:
                return null;
            case HookFailureAction.Deny:
                _onFailure?.Invoke(context);
                return HookResult.Stop;
            default:
                if (_onFailure is null)
                    return HookResult.Continue;
                _onFailure(context);
                return HookResult.Stop;
        }
    }

    /// <summary>One registered callback, with the count of its running calls.</summary>
    private sealed class Entry(
        HookCallback<TContext> callback, int priority, string owner, long sequence, TimeSpan timeout, HookFailureAction onFailure,
        bool blocking, HookStats stats) : HookCalls(timeout)
    {
        public HookCallback<TContext> Callback { get; } = callback;
        public int Priority { get; } = priority;
        public string Owner { get; } = owner;
        public long Sequence { get; } = sequence;
        public HookFailureAction OnFailure { get; } = onFailure;
        public bool Blocking { get; } = blocking;
        public HookStats Stats { get; } = stats;

        /// <summary>Calls left until the next timed one (see <see cref="Invoke"/>).</summary>
        public int Countdown = 1;
    }

    /// <summary>
    /// What <see cref="IHookRegistry.Register{TContext}(HookPoint{TContext}, HookCallback{TContext}, int)"/> returns:
    /// Dispose removes the callback; DisposeAsync also waits until none of its calls runs.
    /// </summary>
    private sealed class Registration(HookChain<TContext> chain, Entry entry) : IDisposable, IAsyncDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                chain.Remove(entry);
        }

        public async ValueTask DisposeAsync()
        {
            Dispose();
            await entry.IdleAsync(chain._runner.TimeProvider).ConfigureAwait(false);
        }
    }
}

internal interface IHookChain
{
    HookPoint Point { get; }
    int Count { get; }

    /// <summary>Removes the owner's callbacks; await <see cref="HookCalls.IdleAsync"/> on each to know they have all returned.</summary>
    IReadOnlyList<HookCalls> RemoveOwner(string owner);
}

/// <summary>
/// What the callbacks of one owner (a plugin instance, or the broker) have cost: calls made on the calling thread and
/// the time they took there (stopwatch ticks), both estimated from one call in 16 of each callback, calls handed to
/// the thread pool (<see cref="HookOptions.Blocking"/>), and failures.
/// </summary>
internal sealed class HookStats(string owner)
{
    private long _calls;
    private long _ticks;
    private long _offloaded;
    private long _failures;

    public string Owner { get; } = owner;

    public long Calls => Volatile.Read(ref _calls);

    public TimeSpan Time => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _ticks));

    public long OffloadedCalls => Volatile.Read(ref _offloaded);

    public long Failures => Volatile.Read(ref _failures);

    public HookTotals Totals => new(Calls, Time, OffloadedCalls, Failures);

    /// <summary>A timed call standing for <paramref name="calls"/> calls that took <paramref name="ticks"/> together.</summary>
    public void Ran(int calls, long ticks)
    {
        Interlocked.Add(ref _calls, calls);
        Interlocked.Add(ref _ticks, ticks);
    }

    public void Offloaded() => Interlocked.Increment(ref _offloaded);

    public long Failed() => Interlocked.Increment(ref _failures);
}

/// <summary>What hook callbacks cost (of one owner, or summed over a plugin's instances).</summary>
/// <param name="Calls">Calls made on the calling thread (a connection's I/O thread, mostly).</param>
/// <param name="Time">The time those calls took on that thread.</param>
/// <param name="OffloadedCalls">Calls of blocking callbacks, made on the thread pool instead.</param>
/// <param name="Failures">Calls that threw or timed out.</param>
public readonly record struct HookTotals(long Calls, TimeSpan Time, long OffloadedCalls, long Failures)
{
    /// <summary>The sum of two totals.</summary>
    public static HookTotals operator +(HookTotals a, HookTotals b) =>
        new(a.Calls + b.Calls, a.Time + b.Time, a.OffloadedCalls + b.OffloadedCalls, a.Failures + b.Failures);
}

/// <summary>What every chain shares: the timeout, the clock, and the accounting per owner.</summary>
internal sealed partial class HookRunner(TimeSpan timeout, TimeProvider timeProvider, ILogger logger)
{
    private readonly ConcurrentDictionary<string, HookStats> _stats = new(StringComparer.Ordinal);

    public TimeSpan Timeout { get; } = timeout;

    public TimeProvider TimeProvider { get; } = timeProvider;

    /// <summary>The accounting of <paramref name="owner"/>'s callbacks, made on its first registration.</summary>
    public HookStats StatsOf(string owner) => _stats.GetOrAdd(owner, static o => new HookStats(o));

    /// <summary>What <paramref name="owner"/>'s callbacks cost so far; zero when it never registered one.</summary>
    public HookTotals TotalsOf(string owner) => _stats.TryGetValue(owner, out var stats) ? stats.Totals : default;

    /// <summary>
    /// Forgets <paramref name="owner"/> once it can register no more (a stopped plugin instance) and returns its
    /// totals; a callback still running adds to an instance nobody reads.
    /// </summary>
    public HookTotals Forget(string owner) => _stats.TryRemove(owner, out var stats) ? stats.Totals : default;

    public void ReportFailure(HookPoint point, HookStats owner, Exception ex, TimeSpan timeout)
    {
        var count = owner.Failed();
        // Log the first failure and then every 100th, so a broken callback on a hot hook cannot flood the log.
        if (count == 1 || count % 100 == 0)
        {
            if (ex is TimeoutException)
                LogHookTimeout(logger, point.Name, owner.Owner, timeout, count);
            else
                LogHookFailed(logger, ex, point.Name, owner.Owner, count);
        }
    }
    [LoggerMessage(EventId = 100, Level = LogLevel.Error, Message = "Hook {HookPoint} callback of {Owner} threw (failure #{Count})")]
    private static partial void LogHookFailed(ILogger logger, Exception ex, string hookPoint, string owner, long count);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Hook {HookPoint} callback of {Owner} did not complete within {Timeout} (failure #{Count})")]
    private static partial void LogHookTimeout(ILogger logger, string hookPoint, string owner, TimeSpan timeout, long count);
}

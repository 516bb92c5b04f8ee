namespace Broker.Plugins.Tests;

/// <summary>
/// A clock that moves only when told to (Microsoft.Extensions.TimeProvider.Testing is not in the registry; a copy of
/// tests/Broker.Core.Tests/TestTransport/FakeTimeProvider.cs, which is internal to that project).
/// <see cref="Advance"/> fires every timer that falls due, in due order, on the calling thread, with the clock set
/// to each timer's due time while its callback runs; a timer created or changed with a due time of zero fires at
/// once, as a real timer would fire "now". Thread-safe.
/// </summary>
internal sealed class FakeTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<FakeTimer> _timers = [];
    private readonly List<(TimeSpan DueTime, TaskCompletionSource Signal)> _waiters = [];
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _sequence;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
            return _now;
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new FakeTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Timers scheduled to fire (for assertions).</summary>
    public int ActiveTimers
    {
        get
        {
            lock (_lock)
                return _timers.Count;
        }
    }

    /// <summary>Moves the clock forward, firing every timer that falls due on the way.</summary>
    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        DateTimeOffset target;
        lock (_lock)
            target = _now + by;
        while (true)
        {
            FakeTimer? next = null;
            lock (_lock)
            {
                foreach (var timer in _timers)
                {
                    if (timer.Due <= target && (next is null || timer.Due < next.Due || (timer.Due == next.Due && timer.Sequence < next.Sequence)))
                        next = timer;
                }
                if (next is null)
                {
                    _now = target;
                    return;
                }
                if (next.Due > _now)
                    _now = next.Due;
                Reschedule(next);
            }
            next.Fire();
        }
    }

    /// <summary>
    /// Completes when a timer has been scheduled with <paramref name="dueTime"/> (e.g. the hook timeout's timer),
    /// so a test can advance the clock knowing the timer exists.
    /// </summary>
    public Task WaitForTimerAsync(TimeSpan dueTime)
    {
        lock (_lock)
        {
            foreach (var timer in _timers)
            {
                if (timer.RequestedDueTime == dueTime)
                    return Task.CompletedTask;
            }
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((dueTime, signal));
            return signal.Task;
        }
    }

    /// <summary>Called under the lock for a timer that fires now: schedule its next period or retire it.</summary>
    private void Reschedule(FakeTimer timer)
    {
        if (timer.Period > TimeSpan.Zero && timer.Period != Timeout.InfiniteTimeSpan)
        {
            timer.Due += timer.Period;
            timer.Sequence = ++_sequence;
        }
        else
        {
            _timers.Remove(timer);
        }
    }

    private bool Change(FakeTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        var fireNow = false;
        lock (_lock)
        {
            if (timer.Disposed)
                return false;
            _timers.Remove(timer);
            timer.Period = period;
            timer.RequestedDueTime = dueTime;
            if (dueTime == Timeout.InfiniteTimeSpan)
                return true;
            timer.Due = _now + dueTime;
            timer.Sequence = ++_sequence;
            _timers.Add(timer);
            if (dueTime <= TimeSpan.Zero)
            {
                fireNow = true;
                Reschedule(timer);
            }
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].DueTime == dueTime)
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
        if (fireNow)
            timer.Fire();
        return true;
    }

    private void Dispose(FakeTimer timer)
    {
        lock (_lock)
        {
            timer.Disposed = true;
            _timers.Remove(timer);
        }
    }

    private sealed class FakeTimer(FakeTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset Due { get; set; }
        public TimeSpan Period { get; set; }
        public TimeSpan RequestedDueTime { get; set; }
        public long Sequence { get; set; }
        public bool Disposed { get; set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period) => owner.Change(this, dueTime, period);

        public void Dispose() => owner.Dispose(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

using System.Diagnostics;

namespace Broker.Bench.Measure;

/// <summary>
/// The shared clock of fixed-rate mode: one 1 ms <see cref="PeriodicTimer"/> wakes every publisher whose next
/// message has come due. A publisher computes how many messages are due from <see cref="Stopwatch"/> time (so a late
/// tick makes a larger batch, never a lower rate) and, when none is, waits here for the tick of its next one.
/// Waiters for the same tick share one task; nothing is allocated per message. A tick runs the due publishers'
/// continuations on the timer's thread, one after another (each sends its batch without blocking, then waits again
/// here): no thread-pool hop per publisher, so the generator's own threads switch and compete for the cores, and
/// delay its receive loops, as little as possible.
/// </summary>
internal sealed class Pacer : IAsyncDisposable
{
    private static readonly long TicksPerMillisecond = Stopwatch.Frequency / 1000;

    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, TaskCompletionSource> _waiters = [];
    private readonly PeriodicTimer _timer = new(TimeSpan.FromMilliseconds(1));
    private readonly long _origin = Stopwatch.GetTimestamp();
    private readonly List<TaskCompletionSource> _due = [];
    private readonly Task _loop;
    private long _currentTick;

    public Pacer() => _loop = RunAsync();

    /// <summary>Completes at the first timer tick at or after <paramref name="timestamp"/>.</summary>
    public Task WaitUntilAsync(long timestamp)
    {
        var tick = (timestamp - _origin + TicksPerMillisecond - 1) / TicksPerMillisecond;
        lock (_lock)
        {
            if (tick <= _currentTick)
                return Task.CompletedTask;
            if (!_waiters.TryGetValue(tick, out var waiter))
                _waiters[tick] = waiter = new TaskCompletionSource();
            return waiter.Task;
        }
    }

    private async Task RunAsync()
    {
        while (await _timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            var now = (Stopwatch.GetTimestamp() - _origin) / TicksPerMillisecond;
            lock (_lock)
            {
                _currentTick = now;
                while (_waiters.Count > 0)
                {
                    var (tick, waiter) = First(_waiters);
                    if (tick > now)
                        break;
                    _waiters.Remove(tick);
                    _due.Add(waiter);
                }
            }
            foreach (var waiter in _due)
                waiter.TrySetResult();
            _due.Clear();
        }
        lock (_lock)
        {
            foreach (var waiter in _waiters.Values)
                waiter.TrySetResult();
            _waiters.Clear();
            _currentTick = long.MaxValue;
        }
    }

    private static KeyValuePair<long, TaskCompletionSource> First(SortedDictionary<long, TaskCompletionSource> waiters)
    {
        foreach (var pair in waiters)
            return pair;
        throw new InvalidOperationException("empty");
    }

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        await _loop.ConfigureAwait(false);
    }
}

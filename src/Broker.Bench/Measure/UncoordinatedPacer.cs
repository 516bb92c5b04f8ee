using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Broker.Bench.Client;

namespace Broker.Bench.Measure;

/// <summary>
/// Fixed-rate pacing as real devices do it (the default): every publisher has its own phase, a random point of its
/// interval, and sends each message alone, at its own scheduled time, on its own connection. Nothing gathers
/// messages of different publishers into one timer tick or one write, so the broker sees what 50 devices on their
/// own clocks send: mostly one PUBLISH per wake-up. (<see cref="Pacer"/>, the ticked mode, wakes every due publisher
/// on one 1 ms tick, which lets the broker read many publishers' messages in one pass.)
/// </summary>
/// <remarks>
/// One thread keeps every publisher's next due time in a heap and sleeps until the earliest (on Linux with
/// <c>clock_nanosleep</c> on the monotonic clock, to the microsecond rather than the millisecond of .NET's timers),
/// then sends that one message; the thread's timer slack is 1 ns, not the kernel's default 50 µs. How late each message left against its schedule is recorded
/// (<see cref="Lateness"/>), so a report shows whether the pacing held. A send that cannot complete at once (a
/// full QoS 1/2 window, a full socket buffer) takes its publisher out of the schedule until it completes; its next
/// message is then late, and counted so.
/// </remarks>
internal sealed partial class UncoordinatedPacer
{
    private const int ClockMonotonic = 1;
    private const int TimerAbsolute = 1;
    private const int PrSetTimerSlack = 29;
    private static readonly bool s_preciseSleep = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;
    private static readonly long s_maxSleep = Stopwatch.Frequency / 500; // 2 ms: publishers back from a pending send are seen at least this often

    private readonly IReadOnlyList<BenchConnection> _publishers;
    private readonly double[] _phases;
    private readonly double _interval; // stopwatch ticks between two messages of one publisher
    private readonly long _start;
    private readonly long _end;
    private readonly ConcurrentQueue<int> _returned = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationToken _cancellationToken;
    private int _pending;

    /// <param name="publishers">The publishers, configured.</param>
    /// <param name="rate">Messages per second over all of them.</param>
    /// <param name="start">When message 0 of a publisher with phase 0 is due (a stopwatch timestamp).</param>
    /// <param name="end">No message is sent at or after this timestamp.</param>
    /// <param name="seed">Seeds the phases, so two runs schedule alike.</param>
    /// <param name="cancellationToken">Stops the sending.</param>
    public UncoordinatedPacer(IReadOnlyList<BenchConnection> publishers, double rate, long start, long end, int seed, CancellationToken cancellationToken)
    {
        _publishers = publishers;
        _interval = Stopwatch.Frequency / (rate / publishers.Count);
        _start = start;
        _end = end;
        _cancellationToken = cancellationToken;
        var random = new Random(seed);
        _phases = new double[publishers.Count];
        for (var i = 0; i < _phases.Length; i++)
            _phases[i] = random.NextDouble();
    }

    /// <summary>How late each message was sent against its schedule, in microseconds.</summary>
    public LatencyHistogram Lateness { get; } = new();

    /// <summary>Sends until the end of the window on a thread of its own; completes when every publisher is done.</summary>
    public Task RunAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Run();
                done.TrySetResult();
            }
            catch (Exception ex)
            {
                done.TrySetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "bench-pacer",
        };
        thread.Start();
        return done.Task;
    }

    private long DueOf(int publisher) => _start + (long)((_publishers[publisher].NextSequence + _phases[publisher]) * _interval);

    private void Run()
    {
        // The kernel may wake a sleeper up to its timer slack late (50 µs by default) to batch wake-ups: this thread's
        // is 1 ns, so the schedule holds to what the scheduler allows (the report's send lateness says how well).
        if (s_preciseSleep)
            prctl(PrSetTimerSlack, 1, 0, 0, 0);
        var schedule = new PriorityQueue<int, long>(_publishers.Count);
        for (var i = 0; i < _publishers.Count; i++)
            schedule.Enqueue(i, DueOf(i));
        while (!_cancellationToken.IsCancellationRequested)
        {
            while (_returned.TryDequeue(out var back))
            {
                Interlocked.Decrement(ref _pending);
                if (_publishers[back].Failure is null)
                    schedule.Enqueue(back, DueOf(back));
            }
            if (!schedule.TryPeek(out var publisher, out var due))
            {
                if (Volatile.Read(ref _pending) == 0)
                    return;
                _wake.Wait(_cancellationToken); // every publisher is waiting for a send to complete
                continue;
            }
            if (due >= _end)
            {
                schedule.Dequeue(); // this publisher's window is over
                continue;
            }
            var now = Stopwatch.GetTimestamp();
            if (due > now)
            {
                SleepUntil(Math.Min(due, now + s_maxSleep));
                continue;
            }
            schedule.Dequeue();
            Lateness.Record((long)Stopwatch.GetElapsedTime(due, now).TotalMicroseconds);
            var send = _publishers[publisher].PublishBatchAsync(1, _cancellationToken);
            if (send.IsCompletedSuccessfully)
            {
                if (send.Result > 0)
                    schedule.Enqueue(publisher, DueOf(publisher));
                continue;
            }
            Interlocked.Increment(ref _pending);
            _ = ReturnWhenSentAsync(send, publisher);
        }
    }

    private async Task ReturnWhenSentAsync(ValueTask<int> send, int publisher)
    {
        try
        {
            await send.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _returned.Enqueue(publisher);
        _wake.Release();
    }

    private static void SleepUntil(long timestamp)
    {
        if (s_preciseSleep)
        {
            var request = new Timespec { Seconds = timestamp / 1_000_000_000, Nanoseconds = timestamp % 1_000_000_000 };
            clock_nanosleep(ClockMonotonic, TimerAbsolute, ref request, IntPtr.Zero); // EINTR: the loop looks again
            return;
        }
        var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), timestamp);
        if (remaining > TimeSpan.FromMilliseconds(1))
            Thread.Sleep(remaining - TimeSpan.FromMilliseconds(1));
        else
            Thread.SpinWait(20);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc")]
    private static partial int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [LibraryImport("libc")]
    private static partial int clock_nanosleep(int clockId, int flags, ref Timespec request, IntPtr remain);
}

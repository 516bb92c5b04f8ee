using System.Diagnostics;
using Broker.Bench.Client;

namespace Broker.Bench.Measure;

/// <summary>
/// The subscriber's side of one convergence round: waits for the first message of the current round (the payload's
/// publisher index is the round number) and keeps when it arrived and how long that message itself took. Messages of
/// earlier rounds still in flight, and anything without the run's magic number, are ignored. Runs on the
/// subscriber's receive loop; <see cref="Begin"/> is called between rounds, when nothing of the new round is sent yet.
/// </summary>
internal sealed class ConvergenceProbe(uint magic) : IDeliverySink
{
    private int _round = -1;
    private TaskCompletionSource<(long ReceivedAt, long SentAt)> _first = NewSource();

    /// <summary>Completes with (received, sent) Stopwatch timestamps of the round's first delivery.</summary>
    public Task<(long ReceivedAt, long SentAt)> First => Volatile.Read(ref _first).Task;

    /// <summary>Arms the probe for <paramref name="round"/>.</summary>
    public void Begin(int round)
    {
        Volatile.Write(ref _first, NewSource());
        Volatile.Write(ref _round, round);
    }

    public void OnPublish(ReadOnlySpan<byte> payload, long receivedAt)
    {
        if (!BenchPayload.TryRead(payload, magic, out var publisher, out _, out var sentAt) || publisher != Volatile.Read(ref _round))
            return;
        Volatile.Read(ref _first).TrySetResult((receivedAt, sentAt));
    }

    /// <summary>Microseconds between two Stopwatch timestamps.</summary>
    public static long Micros(long from, long to) => (to - from) * 1_000_000 / Stopwatch.Frequency;

    private static TaskCompletionSource<(long, long)> NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

using System.Diagnostics;
using Broker.Bench.Client;
using Broker.Bench.Measure;

namespace Broker.Bench.Tests.Measure;

public sealed class ConvergenceProbeTests
{
    private const uint Magic = 0x1234_5679;

    private static byte[] Payload(uint magic, int round, long sequence, long sentAt)
    {
        var payload = new byte[BenchPayload.Size];
        BenchPayload.Stamp(payload, magic, round, sequence, sentAt);
        return payload;
    }

    [Fact]
    public async Task OnPublish_FirstMessageOfTheRound_CompletesWithItsTimes()
    {
        var probe = new ConvergenceProbe(Magic);
        probe.Begin(3);
        probe.OnPublish(Payload(Magic, 3, 7, sentAt: 100), receivedAt: 250);
        probe.OnPublish(Payload(Magic, 3, 8, sentAt: 300), receivedAt: 400);

        Assert.True(probe.First.IsCompleted);
        Assert.Equal((250L, 100L), await probe.First);
    }

    [Fact]
    public void OnPublish_EarlierRoundOrForeignMessage_Ignored()
    {
        var probe = new ConvergenceProbe(Magic);
        probe.Begin(3);
        probe.OnPublish(Payload(Magic, 2, 0, 1), 2);         // a straggler of the round before
        probe.OnPublish(Payload(Magic ^ 2, 3, 0, 1), 2);     // another run's message on the topic
        probe.OnPublish(new byte[5], 2);                     // not a bench payload
        Assert.False(probe.First.IsCompleted);
    }

    [Fact]
    public async Task Begin_NextRound_StartsAFreshWait()
    {
        var probe = new ConvergenceProbe(Magic);
        probe.Begin(0);
        probe.OnPublish(Payload(Magic, 0, 0, 10), 20);
        var first = probe.First;
        probe.Begin(1);

        Assert.False(probe.First.IsCompleted);
        probe.OnPublish(Payload(Magic, 0, 1, 30), 40);
        Assert.False(probe.First.IsCompleted);
        probe.OnPublish(Payload(Magic, 1, 0, 50), 60);
        Assert.Equal((60L, 50L), await probe.First);
        Assert.Equal((20L, 10L), await first);
    }

    [Fact]
    public void Micros_StopwatchTicks()
    {
        Assert.Equal(1_000, ConvergenceProbe.Micros(0, Stopwatch.Frequency / 1000));
        Assert.Equal(2_500_000, ConvergenceProbe.Micros(Stopwatch.Frequency, Stopwatch.Frequency * 7 / 2));
    }
}

using Broker.Bench.Client;
using Broker.Bench.Measure;

namespace Broker.Bench.Tests.Measure;

public sealed class SequenceTrackerTests
{
    [Fact]
    public void Record_InOrder_AllUniqueNothingElse()
    {
        var tracker = new SequenceTracker();
        for (var i = 0; i < 10_000; i++)
            Assert.True(tracker.Record(i));
        Assert.Equal(10_000, tracker.Unique);
        Assert.Equal(0, tracker.Duplicates);
        Assert.Equal(0, tracker.OutOfOrder);
    }

    [Fact]
    public void Record_RepeatAndLateArrival_CountedApart()
    {
        var tracker = new SequenceTracker();
        tracker.Record(0);
        tracker.Record(2);
        Assert.False(tracker.Record(2));    // duplicate
        Assert.True(tracker.Record(1));     // late, first time: out of order
        Assert.False(tracker.Record(1));
        Assert.Equal(3, tracker.Unique);
        Assert.Equal(2, tracker.Duplicates);
        Assert.Equal(1, tracker.OutOfOrder);
    }

    [Fact]
    public void Record_FarBeyondTheInitialBitmap_Grows()
    {
        var tracker = new SequenceTracker();
        Assert.True(tracker.Record(5_000_000));
        Assert.False(tracker.Record(5_000_000));
        Assert.True(tracker.Record(3));
        Assert.Equal(2, tracker.Unique);
    }
}

public sealed class DeliveryRecorderTests
{
    private static byte[] Payload(uint magic, int publisher, long sequence, long sentAt)
    {
        var payload = new byte[64];
        BenchPayload.Stamp(payload, magic, publisher, sequence, sentAt);
        return payload;
    }

    [Fact]
    public void OnPublish_PerPublisherSequencesAndForeignMessages_CountedApart()
    {
        var clock = new RunClock();
        clock.Set(0, long.MaxValue);
        var recorder = new DeliveryRecorder(7, clock);
        recorder.OnPublish(Payload(7, 0, 0, 1), 2);
        recorder.OnPublish(Payload(7, 1, 0, 1), 2);   // another publisher's 0 is not a duplicate
        recorder.OnPublish(Payload(7, 0, 0, 1), 2);   // this one is
        recorder.OnPublish(Payload(8, 0, 1, 1), 2);   // another run
        recorder.OnPublish(new byte[10], 2);          // too short to be ours
        Assert.Equal(2, recorder.Received);
        Assert.Equal(1, recorder.Duplicates);
        Assert.Equal(2, recorder.Foreign);
        Assert.Equal(1, recorder.Find(1)!.Unique);
        Assert.Equal(2, recorder.Latency.Count);
    }

    [Fact]
    public void OnPublish_SentBeforeTheWindow_NoLatencyButCounted()
    {
        var clock = new RunClock();
        clock.Set(1000, 2000);
        var recorder = new DeliveryRecorder(7, clock);
        recorder.OnPublish(Payload(7, 0, 0, 999), 1500);
        recorder.OnPublish(Payload(7, 0, 1, 1000), 1500);
        recorder.OnPublish(Payload(7, 0, 2, 2000), 2500);
        Assert.Equal(3, recorder.Received);
        Assert.Equal(1, recorder.Latency.Count);
    }
}

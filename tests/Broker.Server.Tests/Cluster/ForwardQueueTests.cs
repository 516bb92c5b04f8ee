using Broker.Cluster;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// The forwards one node owes another (<see cref="ForwardQueue"/>): numbering, batches, acknowledgements that release
/// the publishers' PUBACKs, back-pressure past the high mark, resending, and what a node found down does to them.
/// Timestamps are plain numbers: the queue only compares them.
/// </summary>
public sealed class ForwardQueueTests
{
    private static ForwardQueue OpenQueue(int maxQueue)
    {
        var queue = new ForwardQueue(maxQueue);
        queue.Open();
        return queue;
    }

    private static byte[] Body(int size = 10) => new byte[size];

    [Fact]
    public void Enqueue_BeforeTheNodeIsUp_IsRefused_NotCountedAsFull()
    {
        var queue = new ForwardQueue(100);

        Assert.False(queue.Enqueue(Body(), reliable: true, 0, out var acked, out _, out var full));
        Assert.Null(acked);
        Assert.False(full);
    }

    [Fact]
    public void TakeBatch_GivesConsecutiveNumbers_AsManyAsFitTheBytes_AtLeastOne()
    {
        var queue = OpenQueue(100);
        for (var i = 0; i < 5; i++)
            Assert.True(queue.Enqueue(Body(100), reliable: false, 0, out _, out _, out _));

        var batch = new List<byte[]>();
        Assert.Equal(1, queue.TakeBatch(250, batch, out var oldest));
        Assert.Equal((2, 1L), (batch.Count, oldest));
        batch.Clear();
        Assert.Equal(3, queue.TakeBatch(10, batch, out _)); // one alone is over the limit: it goes anyway
        Assert.Single(batch);
        batch.Clear();
        Assert.Equal(4, queue.TakeBatch(10_000, batch, out _));
        Assert.Equal(2, batch.Count);
        batch.Clear();
        Assert.Equal(0, queue.TakeBatch(10_000, batch, out _));
        Assert.Equal(5, queue.Count); // sent, not acknowledged: still held
    }

    // End-to-end QoS: a QoS 1/2 forward's waiter (the publisher's PUBACK) completes when the node acknowledges it.
    [Fact]
    public void Acknowledge_CompletesTheWaitersUpToTheNumber_AndForgetsThoseForwards()
    {
        var queue = OpenQueue(100);
        var waiters = new List<Task?>();
        for (var i = 0; i < 4; i++)
        {
            queue.Enqueue(Body(), reliable: i != 1, 0, out var acked, out _, out _);
            waiters.Add(acked);
        }
        Assert.Null(waiters[1]); // QoS 0 waits for nothing

        Assert.Equal(3, queue.Acknowledge(3, 1));

        Assert.True(waiters[0]!.IsCompletedSuccessfully);
        Assert.True(waiters[2]!.IsCompletedSuccessfully);
        Assert.False(waiters[3]!.IsCompleted);
        Assert.Equal(1, queue.Count);
        var batch = new List<byte[]>();
        Assert.Equal(4, queue.TakeBatch(1000, batch, out var oldest)); // the acknowledged ones are not sent any more
        Assert.Equal(4, oldest);
    }

    [Fact]
    public void Enqueue_PastTheHighMark_HandsOutAWait_ThatEndsAtTheLowMark()
    {
        var queue = OpenQueue(100); // high mark 10, low mark 5
        Assert.Equal((10, 5), (queue.HighMark, queue.LowMark));
        Task? behind = null;
        for (var i = 1; i <= 11; i++)
        {
            queue.Enqueue(Body(), reliable: true, 0, out _, out behind, out _);
            Assert.Equal(i > 10, behind is not null);
        }

        queue.Acknowledge(5, 1); // 6 left: still above the low mark
        Assert.False(behind!.IsCompleted);
        queue.Acknowledge(6, 2);
        Assert.True(behind.IsCompletedSuccessfully);
    }

    // QoS 0 may be dropped under overload; an accepted QoS 1/2 message never is for a full queue.
    [Fact]
    public void Enqueue_AtTheMaximum_RefusesQos0_ButNeverQos1Or2()
    {
        var queue = OpenQueue(20);
        for (var i = 0; i < 20; i++)
            Assert.True(queue.Enqueue(Body(), reliable: true, 0, out _, out _, out _));

        Assert.False(queue.Enqueue(Body(), reliable: false, 0, out _, out _, out var full));
        Assert.True(full);
        Assert.True(queue.Enqueue(Body(), reliable: true, 0, out var acked, out var behind, out _));
        Assert.NotNull(acked);
        Assert.NotNull(behind);
        Assert.Equal(21, queue.Count);
    }

    [Fact]
    public void Rewind_SendsAgainFromTheOldestUnacknowledged_InOrder()
    {
        var queue = OpenQueue(100);
        for (var i = 0; i < 6; i++)
            queue.Enqueue([(byte)i], reliable: true, 0, out _, out _, out _);
        var batch = new List<byte[]>();
        queue.TakeBatch(1000, batch, out _);
        queue.Acknowledge(2, 1);

        Assert.Equal(4, queue.Rewind(5));

        batch.Clear();
        Assert.Equal(3, queue.TakeBatch(1000, batch, out var oldest));
        Assert.Equal(3, oldest);
        Assert.Equal([2, 3, 4, 5], batch.Select(b => (int)b[0]));
        Assert.Equal(4, queue.Rewind(6)); // everything sent again is again waiting for an acknowledgement
    }

    [Fact]
    public void IsStalled_OnlyWhenSentForwardsSawNoProgressForAsLong()
    {
        var queue = OpenQueue(100);
        queue.Enqueue(Body(), reliable: true, 100, out _, out _, out _);
        Assert.False(queue.IsStalled(1000, 500)); // not sent yet: nothing to wait for
        queue.TakeBatch(1000, [], out _);

        Assert.False(queue.IsStalled(400, 500));
        Assert.True(queue.IsStalled(600, 500));
        queue.Rewind(600);
        Assert.False(queue.IsStalled(700, 500));
    }

    // The receiving node holds an acknowledgement back (a subscriber of its is behind) while later forwards arrive:
    // the publisher of the one held back waits, those of the later ones do not; what it says it received is not sent
    // again, its saying so is progress, and with everything received only the newest goes again (a probe it answers
    // with its acknowledgement, in case that was lost).
    [Fact]
    public void HeldAcknowledgement_WhatWasReceivedIsNotSentAgain_ButTheWaitersStayOpen()
    {
        var queue = OpenQueue(100);
        var waiters = new List<Task?>();
        for (var i = 0; i < 6; i++)
        {
            queue.Enqueue([(byte)i], reliable: true, 0, out var acked, out _, out _);
            waiters.Add(acked);
        }
        queue.TakeBatch(1000, [], out _);

        queue.Acknowledge(2, 4, 100, null, null); // 3 held back, 3 and 4 received
        Assert.True(waiters[1]!.IsCompletedSuccessfully);
        Assert.False(waiters[2]!.IsCompleted); // 3: its publisher waits
        Assert.True(waiters[3]!.IsCompletedSuccessfully); // 4: in the node's sessions
        Assert.False(waiters[4]!.IsCompleted);
        Assert.Equal(4, queue.Count); // 3 to 6 still held, until the acknowledgement reaches them
        Assert.False(queue.IsStalled(400, 500)); // hearing of 4 at 100 is progress
        Assert.True(queue.IsStalled(600, 500));

        Assert.Equal(2, queue.Rewind(600));
        var batch = new List<byte[]>();
        Assert.Equal(5, queue.TakeBatch(1000, batch, out var oldest));
        Assert.Equal(3, oldest);
        Assert.Equal([4, 5], batch.Select(b => (int)b[0]));

        queue.Acknowledge(2, 6, 700, null, null); // all received, 3 still held back
        Assert.Equal(1, queue.Rewind(1300)); // only the newest: a probe
        batch.Clear();
        Assert.Equal(6, queue.TakeBatch(1000, batch, out _));

        queue.Acknowledge(6, 6, 1400, null, null);
        Assert.True(waiters.Where(w => w is not null).All(w => w!.IsCompletedSuccessfully));
        Assert.Equal(0, queue.Rewind(1500));
    }

    // The node does not acknowledge within cluster.node_timeout, though it still announces itself: publishers are
    // acknowledged, the forwards stay (still sent until it has them).
    [Fact]
    public void ReleaseOlderThan_CompletesOldWaiters_KeepsTheForwards()
    {
        var queue = OpenQueue(100);
        queue.Enqueue(Body(), reliable: true, 100, out var old, out _, out _);
        queue.Enqueue(Body(), reliable: true, 900, out var young, out _, out _);

        Assert.Equal(1, queue.ReleaseOlderThan(500));

        Assert.True(old!.IsCompletedSuccessfully);
        Assert.False(young!.IsCompleted);
        Assert.Equal(2, queue.Count);
        Assert.Equal(0, queue.ReleaseOlderThan(500)); // once
    }

    // The node is found down: its publishers get their PUBACK (the other nodes have the message); nothing is kept for
    // it, nothing is queued until it is up again, and numbers go on (it skips what it never got).
    [Fact]
    public void Forget_ReleasesEveryWaiterAndTheBackPressure_RefusesUntilOpen_NumbersGoOn()
    {
        var queue = OpenQueue(10); // high mark 1
        queue.Enqueue(Body(), reliable: true, 0, out var first, out _, out _);
        queue.Enqueue(Body(), reliable: true, 0, out var second, out var behind, out _);
        queue.Enqueue(Body(), reliable: false, 0, out _, out _, out _);

        Assert.Equal(2, queue.Forget());

        Assert.True(first!.IsCompletedSuccessfully && second!.IsCompletedSuccessfully && behind!.IsCompletedSuccessfully);
        Assert.Equal(0, queue.Count);
        Assert.False(queue.Enqueue(Body(), reliable: true, 0, out _, out _, out var full));
        Assert.False(full);

        queue.Open();
        queue.Enqueue(Body(), reliable: true, 0, out _, out _, out _);
        var batch = new List<byte[]>();
        Assert.Equal(4, queue.TakeBatch(1000, batch, out var oldest));
        Assert.Equal(4, oldest);
    }

    [Fact]
    public void Ring_GrowsPastItsFirstSize_KeepingOrder()
    {
        var queue = OpenQueue(1000);
        for (var i = 0; i < 40; i++)
            queue.Enqueue([(byte)i], reliable: false, 0, out _, out _, out _);
        queue.Acknowledge(10, 0);
        for (var i = 40; i < 100; i++)
            queue.Enqueue([(byte)i], reliable: false, 0, out _, out _, out _);

        var batch = new List<byte[]>();
        Assert.Equal(11, queue.TakeBatch(1_000_000, batch, out _));
        Assert.Equal(Enumerable.Range(10, 90), batch.Select(b => (int)b[0]));
    }
}

using Broker.Core.Connections;
using Broker.Core.Hosting;
using Broker.Core.Sessions;
using Xunit;

namespace Broker.Core.Tests.Connections;

public sealed class OutboundQueueTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The queue with its owner, as <c>ClientChannel</c> holds it: the owner is the lock and the drainer.</summary>
    private sealed class TestQueue<T>(IThreadPoolWorkItem owner)
    {
        private OutboundQueue<T> _queue;

        public bool TryWrite(T item) => _queue.TryWrite(owner, ThreadPoolWriterScheduler.Instance, item);

        public void Complete() => _queue.Complete(owner);

        public bool TryRead(out T item) => _queue.TryRead(owner, out item);

        public bool TryEndDrain() => _queue.TryEndDrain(owner);

        public void Abandon() => _queue.Abandon(owner);

        public Task WhenDrainedAsync() => _queue.WhenDrainedAsync(owner);
    }

    /// <summary>A drainer that only records that it was run: the test reads the queue itself.</summary>
    private sealed class RecordingDrainer : IThreadPoolWorkItem
    {
        private int _runs;
        private TaskCompletionSource _ran = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Runs => Volatile.Read(ref _runs);

        public Task NextRun => Volatile.Read(ref _ran).Task;

        public void Execute()
        {
            Interlocked.Increment(ref _runs);
            Interlocked.Exchange(ref _ran, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>A queue holding <paramref name="items"/> whose drainer has been run: the test then drains it itself.</summary>
    private static async Task<TestQueue<int>> QueueBeingDrainedAsync(params int[] items)
    {
        var drainer = new RecordingDrainer();
        var queue = new TestQueue<int>(drainer);
        var run = drainer.NextRun;
        foreach (var item in items)
            Assert.True(queue.TryWrite(item));
        await run.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        return queue;
    }

    [Fact]
    public async Task FirstWrite_SchedulesTheDrainer_LaterOnesJoinItsDrain_AndAWriteAfterItEndsSchedulesAgain()
    {
        var drainer = new RecordingDrainer();
        var queue = new TestQueue<int>(drainer);

        var firstRun = drainer.NextRun;
        Assert.True(queue.TryWrite(1));
        await firstRun.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.True(queue.TryWrite(2));

        // Items arrived: the drain may not end yet.
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal((1, 2), (first, second));
        Assert.False(queue.TryRead(out _));
        var secondRun = drainer.NextRun;
        Assert.True(queue.TryEndDrain());
        Assert.Equal(1, drainer.Runs);

        Assert.True(queue.TryWrite(3));
        await secondRun.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, drainer.Runs);
    }

    [Fact]
    public async Task TryEndDrain_WhenAnItemArrivedAfterTheLastRead_SaysGoOn()
    {
        var queue = await QueueBeingDrainedAsync(1);
        Assert.True(queue.TryRead(out _));

        queue.TryWrite(2);

        Assert.False(queue.TryEndDrain());
        Assert.True(queue.TryRead(out var item));
        Assert.Equal(2, item);
        Assert.True(queue.TryEndDrain());
    }

    [Fact]
    public async Task Complete_RefusesWrites_ButTheRunningDrainStillGetsWhatWasQueued_AndWhenDrainedWaitsForIt()
    {
        var queue = await QueueBeingDrainedAsync(1, 2);

        queue.Complete();

        Assert.False(queue.TryWrite(3));
        var drained = queue.WhenDrainedAsync();
        Assert.False(drained.IsCompleted);
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal((1, 2), (first, second));
        Assert.False(queue.TryRead(out _));
        Assert.True(queue.TryEndDrain());
        await drained.WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void WhenDrainedAsync_WithNoDrainRunning_IsComplete()
    {
        var queue = new TestQueue<int>(new RecordingDrainer());
        queue.Complete();

        Assert.True(queue.WhenDrainedAsync().IsCompletedSuccessfully);
    }

    [Fact]
    public async Task Abandon_DropsWhatIsQueued_RefusesWrites_AndEndsTheWait()
    {
        var queue = await QueueBeingDrainedAsync(1, 2);
        queue.Complete();
        var drained = queue.WhenDrainedAsync();

        queue.Abandon();

        await drained.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.False(queue.TryRead(out _));
        Assert.False(queue.TryWrite(3));
    }

    [Fact]
    public void WritesAndReadsInterleaved_ItemsComeOutInWriteOrder()
    {
        // The first item waits in a slot of its own and later ones in a queue behind it; whatever the interleaving
        // (slot and queue both holding items, the queue draining while the slot refills), order is kept.
        var queue = new TestQueue<int>(new RecordingDrainer());
        var read = new List<int>();
        var next = 0;
        var random = new Random(7);
        for (var step = 0; step < 10_000; step++)
        {
            if (random.Next(3) == 0)
            {
                if (queue.TryRead(out var item))
                    read.Add(item);
            }
            else
            {
                Assert.True(queue.TryWrite(next++));
            }
        }
        while (queue.TryRead(out var rest))
            read.Add(rest);
        Assert.Equal(Enumerable.Range(0, next), read);
    }

    /// <summary>Drains as ClientChannel does, checking that no two drains ever run at once.</summary>
    private sealed class CheckingDrainer(int writers, int expected) : IThreadPoolWorkItem
    {
        private readonly int[] _next = new int[writers];
        private int _active;
        private int _read;

        public TestQueue<(int Writer, int Seq)> Queue { get; set; } = null!;

        public TaskCompletionSource AllRead { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute()
        {
            try
            {
                do
                {
                    Assert.Equal(1, Interlocked.Increment(ref _active));
                    while (Queue.TryRead(out var item))
                    {
                        Assert.Equal(_next[item.Writer]++, item.Seq);
                        if (++_read == expected)
                            AllRead.TrySetResult();
                    }
                    // Before TryEndDrain: once it says the drain is over, a new one may start at once.
                    Interlocked.Decrement(ref _active);
                }
                while (!Queue.TryEndDrain());
            }
            catch (Exception ex)
            {
                AllRead.TrySetException(ex);
            }
        }
    }

    [Fact]
    public async Task ManyWriters_DrainsNeverOverlap_AndEveryItemIsReadOnceInEachWritersOrder()
    {
        const int writers = 8, perWriter = 20_000;
        var drainer = new CheckingDrainer(writers, writers * perWriter);
        var queue = new TestQueue<(int Writer, int Seq)>(drainer);
        drainer.Queue = queue;

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < perWriter; i++)
                Assert.True(queue.TryWrite((w, i)));
        }, TestContext.Current.CancellationToken)));

        await drainer.AllRead.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.False(queue.TryRead(out _));
    }
}

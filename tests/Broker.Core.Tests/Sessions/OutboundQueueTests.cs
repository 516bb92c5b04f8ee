using Broker.Core.Sessions;
using Xunit;

namespace Broker.Core.Tests.Sessions;

public sealed class OutboundQueueTests
{
    [Fact]
    public async Task WaitToReadAsync_WakesOnWrite_AndDrainsBeforeReportingCompletion()
    {
        var queue = new OutboundQueue<int>();
        var waiting = queue.WaitToReadAsync();
        Assert.False(waiting.IsCompleted);

        Assert.True(queue.TryWrite(1));
        Assert.True(await waiting);
        Assert.True(queue.TryWrite(2));
        queue.Complete();
        Assert.False(queue.TryWrite(3));

        // Written before Complete: still read, then the end.
        Assert.True(await queue.WaitToReadAsync());
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal((1, 2), (first, second));
        Assert.False(queue.TryRead(out _));
        Assert.False(await queue.WaitToReadAsync());
    }

    [Fact]
    public void WritesAndReadsInterleaved_ItemsComeOutInWriteOrder()
    {
        // The first item waits in a slot of its own and later ones in a queue behind it; whatever the interleaving
        // (slot and queue both holding items, the queue draining while the slot refills), order is kept.
        var queue = new OutboundQueue<int>();
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

    [Fact]
    public async Task Complete_WhileTheReaderWaits_EndsTheWait()
    {
        var queue = new OutboundQueue<int>();
        var waiting = queue.WaitToReadAsync();

        queue.Complete();

        Assert.False(await waiting);
    }

    [Fact]
    public async Task ManyWriters_OneReader_EveryItemReadOnceInEachWritersOrder()
    {
        const int writers = 8, perWriter = 20_000;
        var queue = new OutboundQueue<(int Writer, int Seq)>();
        var reader = Task.Run(async () =>
        {
            var next = new int[writers];
            var count = 0;
            while (await queue.WaitToReadAsync())
            {
                while (queue.TryRead(out var item))
                {
                    Assert.Equal(next[item.Writer]++, item.Seq);
                    count++;
                }
            }
            return count;
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < perWriter; i++)
                Assert.True(queue.TryWrite((w, i)));
        }, TestContext.Current.CancellationToken)));
        queue.Complete();

        Assert.Equal(writers * perWriter, await reader.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
    }
}

using Broker.Core.Tests.TestTransport;
using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Plugins.DelayedPublish;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>The queue of pending messages and its one timer, on a clock that moves only when the test says so.</summary>
public sealed class DelayedQueueTests : IAsyncDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly Channel<BrokerMessage> _published = Channel.CreateUnbounded<BrokerMessage>();
    private readonly ConcurrentQueue<int> _counts = new();
    private readonly DelayedQueue _queue;
    private Func<BrokerMessage, ValueTask>? _onPublish;

    public DelayedQueueTests()
    {
        _queue = new DelayedQueue(_time, PublishAsync, _counts.Enqueue, NullLogger.Instance);
        _queue.Start();
    }

    public async ValueTask DisposeAsync() => await _queue.StopAsync();

    private async ValueTask PublishAsync(BrokerMessage message)
    {
        if (_onPublish is { } hook)
            await hook(message);
        _published.Writer.TryWrite(message);
    }

    private static BrokerMessage Message(string payload, uint? expiry = null) => new()
    {
        Topic = "t",
        Payload = Encoding.UTF8.GetBytes(payload),
        Qos = MqttQos.AtLeastOnce,
        MessageExpiryInterval = expiry,
    };

    private DateTimeOffset In(double seconds) => _time.GetUtcNow() + TimeSpan.FromSeconds(seconds);

    private async Task<string> NextAsync()
    {
        var message = await _published.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(s_wait, TestContext.Current.CancellationToken);
        return Encoding.UTF8.GetString(message.Payload.Span);
    }

    /// <summary>Nothing is published unless the timer fires, and it fires only through Advance: none pending means none will come.</summary>
    private void AssertNothingPublished() => Assert.False(_published.Reader.TryPeek(out _), "a message was published before its time");

    [Fact]
    public async Task Message_IsPublishedAtItsDueTime_NotBefore()
    {
        Assert.Equal(ScheduleResult.Scheduled, _queue.TrySchedule(Message("a"), In(10), 0));

        _time.Advance(TimeSpan.FromSeconds(10) - TimeSpan.FromTicks(1));
        AssertNothingPublished();
        Assert.Equal(1, _queue.Count);

        _time.Advance(TimeSpan.FromTicks(1));
        Assert.Equal("a", await NextAsync());
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task ManyMessages_OneTimer_PublishedInDueOrder_TiesInArrivalOrder()
    {
        var random = new Random(42);
        var expected = new List<(int Due, int Arrival)>();
        for (var i = 0; i < 500; i++)
        {
            var due = random.Next(1, 60);
            expected.Add((due, i));
            _queue.TrySchedule(Message(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), In(due), 0);
        }
        Assert.Equal(1, _time.ActiveTimers);

        for (var second = 0; second < 60; second++)
            _time.Advance(TimeSpan.FromSeconds(1));

        var order = expected.OrderBy(e => e.Due).ThenBy(e => e.Arrival).Select(e => e.Arrival.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var actual = new List<string>();
        for (var i = 0; i < order.Count; i++)
            actual.Add(await NextAsync());
        Assert.Equal(order, actual);
    }

    [Fact]
    public async Task EarlierMessage_RearmsTheTimer()
    {
        _queue.TrySchedule(Message("late"), In(10), 0);
        _queue.TrySchedule(Message("early"), In(5), 0);

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("early", await NextAsync());
        AssertNothingPublished();

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal("late", await NextAsync());
    }

    [Fact]
    public async Task PastDueMessage_IsPublishedAtOnce()
    {
        _queue.Restore([new DelayedEntry(In(-30), Message("missed while down"))]);

        Assert.Equal("missed while down", await NextAsync());
    }

    [Fact]
    public async Task Limit_RefusesBeyondIt_UntilOneIsPublished()
    {
        Assert.Equal(ScheduleResult.Scheduled, _queue.TrySchedule(Message("1"), In(1), 2));
        Assert.Equal(ScheduleResult.Scheduled, _queue.TrySchedule(Message("2"), In(2), 2));
        Assert.Equal(ScheduleResult.Full, _queue.TrySchedule(Message("3"), In(2), 2));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("1", await NextAsync());
        Assert.Equal(ScheduleResult.Scheduled, _queue.TrySchedule(Message("3"), In(1), 2));
        Assert.Equal(2, _queue.Count);
    }

    [Fact]
    public void Count_IsReportedOnEveryChange()
    {
        _queue.TrySchedule(Message("1"), In(1), 0);
        _queue.TrySchedule(Message("2"), In(2), 0);
        _queue.TrySchedule(Message("3"), In(3), 0);

        Assert.Equal([1, 2, 3], _counts.ToArray()[^3..]);
    }

    [Fact]
    public async Task ExpiryCountsFromTheOriginalPublish_ExpiredWhileWaiting_IsNotPublished()
    {
        // MQTT 5 3.3.2.3.3: the server deletes a message whose expiry interval passed before it could be delivered
        // [MQTT-3.3.2-5]; the wait in the queue counts.
        var now = _time.GetUtcNow();
        _queue.TrySchedule(Message("expires first", expiry: 5) with { Timestamp = now }, In(10), 0);
        _queue.TrySchedule(Message("still alive", expiry: 20) with { Timestamp = now }, In(10), 0);

        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal("still alive", await NextAsync());
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public async Task Seal_ReturnsPendingEarliestFirst_AndStopsEverything()
    {
        _queue.TrySchedule(Message("b"), In(20), 0);
        _queue.TrySchedule(Message("a"), In(10), 0);

        var pending = _queue.Seal();

        Assert.Equal(["a", "b"], pending.Select(e => Encoding.UTF8.GetString(e.Message.Payload.Span)));
        Assert.Equal(0, _time.ActiveTimers);
        Assert.True(_queue.IsSealed);
        Assert.Equal(ScheduleResult.Sealed, _queue.TrySchedule(Message("c"), In(1), 0));
        Assert.Empty(_queue.Seal());
        _time.Advance(TimeSpan.FromSeconds(30));
        await _queue.StopAsync();
        AssertNothingPublished();
    }

    [Fact]
    public async Task StopAsync_WaitsForThePublishUnderWay_WhichIsNotReturnedAsPending()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _onPublish = async _ =>
        {
            entered.TrySetResult();
            await release.Task;
        };
        _queue.TrySchedule(Message("in flight"), In(1), 0);
        _queue.TrySchedule(Message("pending"), In(1), 0);
        _time.Advance(TimeSpan.FromSeconds(1));
        await entered.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken);

        var stop = _queue.StopAsync();
        Assert.False(stop.IsCompleted);
        release.SetResult();
        var pending = await stop.WaitAsync(s_wait, TestContext.Current.CancellationToken);

        Assert.Equal("pending", Encoding.UTF8.GetString(Assert.Single(pending).Message.Payload.Span));
        Assert.Equal("in flight", await NextAsync());
        AssertNothingPublished();
    }

    [Fact]
    public async Task FailingPublish_IsLogged_AndTheNextMessageStillGoes()
    {
        _onPublish = m => Encoding.UTF8.GetString(m.Payload.Span) == "bad" ? throw new InvalidOperationException("boom") : ValueTask.CompletedTask;
        _queue.TrySchedule(Message("bad"), In(1), 0);
        _queue.TrySchedule(Message("good"), In(2), 0);

        _time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal("good", await NextAsync());
    }

    [Fact]
    public async Task ConcurrentSchedulers_EveryMessagePublishedExactlyOnce()
    {
        const int Threads = 8, PerThread = 500;
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
                Assert.Equal(ScheduleResult.Scheduled, _queue.TrySchedule(Message($"{t}-{i}"), In(1 + (i % 7)), 0));
        }, TestContext.Current.CancellationToken)));
        Assert.Equal(Threads * PerThread, _queue.Count);

        _time.Advance(TimeSpan.FromSeconds(8));

        var seen = new HashSet<string>();
        for (var i = 0; i < Threads * PerThread; i++)
            Assert.True(seen.Add(await NextAsync()), "published twice");
        Assert.Equal(0, _queue.Count);
        AssertNothingPublished();
    }
}

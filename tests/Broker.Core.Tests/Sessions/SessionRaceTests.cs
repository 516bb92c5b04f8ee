using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>
/// Orderings that depend on timing in production (a slow hook, a takeover), pinned down here with a hook that
/// holds a step until the test releases it and with the fake clock.
/// </summary>
public sealed class SessionRaceTests
{
    [Fact]
    public async Task Takeover_OldSessionExpiryZero_SessionEndsWithOldConnection()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var first = await broker.ConnectAsync("c1"); // Session Expiry Interval absent = 0
        await first.SubscribeAsync("t");

        var second = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 300);
        await first.WaitClosedAsync();

        // 3.1.2.11.2: with Session Expiry Interval 0 the session ends when its network connection closes, so the
        // taking-over connection finds no session [MQTT-3.2.2-2 applies only to an existing session].
        Assert.False(second.ConnAck!.SessionPresent);
        Assert.Contains("session.terminated:c1:takenover", log.Events);
        Assert.DoesNotContain("session.terminated:c1:expired", log.Events);
        Assert.Empty(second.Channel.Session!.SubscriptionsSnapshot());
    }

    // A connect holds its client id's lock through the session hooks, a takeover (up to 5 s for the old connection)
    // or, in a cluster, a claim across the network. Other client ids must not wait for it: with the locks shared by
    // hash (64 of them) some of 200 ids would.
    [Fact]
    public async Task Connect_HeldInsideItsClientIdLock_OtherClientIdsConnectMeanwhile()
    {
        await using var broker = new TestBroker();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<HookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.Engine.Hooks.Register(HookPoints.SessionCreated, c =>
        {
            if (c.Client?.ClientId != "slow")
                return ValueTask.FromResult(HookResult.Continue);
            held.TrySetResult();
            return new ValueTask<HookResult>(release.Task);
        });
        var slow = broker.ConnectAsync("slow");
        await held.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);

        var others = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => broker.ConnectAsync($"other-{i}")))
            .WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        Assert.All(others, o => Assert.Equal(MqttReasonCode.Success, o.ConnAck!.ReasonCode));
        Assert.False(slow.IsCompleted);

        release.SetResult(HookResult.Continue);
        Assert.Equal(MqttReasonCode.Success, (await slow.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken)).ConnAck!.ReasonCode);
    }

    [Fact]
    public async Task Takeover_OldSessionExpiryZeroAndCleanStart_TerminatedOnceNotDiscarded()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var first = await broker.ConnectAsync("c1");

        await broker.ConnectAsync("c1", cleanStart: true);
        await first.WaitClosedAsync();

        Assert.Single(log.Events, e => e.StartsWith("session.terminated:c1", StringComparison.Ordinal));
        Assert.Contains("session.terminated:c1:takenover", log.Events);
    }

    [Fact]
    public async Task Expiry_ReconnectWhileOldWillIsPublishing_OldExpiryTimerDoesNotEndNewSession()
    {
        await using var broker = new TestBroker();
        var log = HookLog.Attach(broker.Engine);
        var willEntered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseWill = new TaskCompletionSource<HookResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.Engine.Hooks.Register(HookPoints.MessagePublish, c =>
        {
            if (c.Message.Topic != "will/c1")
                return ValueTask.FromResult(HookResult.Continue);
            willEntered.TrySetResult();
            return new ValueTask<HookResult>(releaseWill.Task); // a slow plugin (e.g. a retainer writing to a database)
        });
        var first = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10, configure: c =>
        {
            c.WillTopic = "will/c1";
            c.WillPayload = "bye"u8.ToArray();
        });

        await first.DropAsync();
        await willEntered.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        var second = await broker.ConnectAsync("c1", cleanStart: false, sessionExpiry: 10);
        releaseWill.SetResult(HookResult.Continue);
        await first.WaitClosedAsync();
        Assert.True(second.ConnAck!.SessionPresent);

        broker.Time.Advance(TimeSpan.FromSeconds(5));
        await second.AbortAsync();
        broker.Time.Advance(TimeSpan.FromSeconds(9));

        // [MQTT-3.1.2-23]: the session lives Session Expiry Interval after *its latest* connection closed.
        Assert.True(broker.Engine.Sessions.TryGet("c1", out _));
        Assert.DoesNotContain(log.Events, e => e.StartsWith("session.terminated", StringComparison.Ordinal));
        broker.Time.Advance(TimeSpan.FromSeconds(1));
        await log.WaitForAsync("session.terminated:c1:expired");
    }
}

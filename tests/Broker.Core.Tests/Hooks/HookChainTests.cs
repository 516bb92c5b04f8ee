using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Hooks;
using Broker.Core.Tests.TestTransport;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Core.Tests.Hooks;

/// <summary>The hook chain on its own: ordering, Stop, removal, owners, failures and timeouts.</summary>
public sealed class HookChainTests
{
    private readonly FakeTimeProvider _time = new();

    private HookRegistry NewRegistry() => new(TimeSpan.FromSeconds(5), _time, NullLogger.Instance);

    private static MessageDroppedContext Dropped() => new() { Message = new BrokerMessage { Topic = "t" }, Reason = "test" };

    private static HookCallback<MessageDroppedContext> Record(List<string> calls, string name, HookResult result = HookResult.Continue) =>
        _ =>
        {
            calls.Add(name);
            return ValueTask.FromResult(result);
        };

    [Fact]
    public async Task Register_Priorities_HigherFirstTiesInRegistrationOrder()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        registry.Register(HookPoints.MessageDropped, Record(calls, "default-1"));
        registry.Register(HookPoints.MessageDropped, Record(calls, "observer"), HookPriorities.Observer);
        registry.Register(HookPoints.MessageDropped, Record(calls, "rewrite"), HookPriorities.TopicRewrite);
        registry.Register(HookPoints.MessageDropped, Record(calls, "default-2"));
        registry.Register(HookPoints.MessageDropped, Record(calls, "auth"), HookPriorities.ExternalAuth);
        registry.Register(HookPoints.MessageDropped, Record(calls, "default-3"));

        var result = await registry.MessageDropped.RunAsync(Dropped());

        // DESIGN §5: higher priority runs first; ties in registration order.
        Assert.Equal(["rewrite", "auth", "default-1", "default-2", "default-3", "observer"], calls);
        Assert.Equal(HookResult.Continue, result);
    }

    [Fact]
    public async Task RunAsync_CallbackStops_LaterCallbacksSkipped()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        registry.Register(HookPoints.MessageDropped, Record(calls, "first"), 10);
        registry.Register(HookPoints.MessageDropped, Record(calls, "stopper", HookResult.Stop), 5);
        registry.Register(HookPoints.MessageDropped, Record(calls, "never"), 0);

        var result = await registry.MessageDropped.RunAsync(Dropped());

        Assert.Equal(["first", "stopper"], calls);
        Assert.Equal(HookResult.Stop, result);
    }

    [Fact]
    public async Task RunAsync_AsyncCallbacks_RunInOrderAndStopHonoured()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        registry.Register(HookPoints.MessageDropped, async _ =>
        {
            await Task.Yield();
            calls.Add("async");
            return HookResult.Continue;
        }, 10);
        registry.Register(HookPoints.MessageDropped, Record(calls, "sync-stop", HookResult.Stop), 5);
        registry.Register(HookPoints.MessageDropped, Record(calls, "never"), 0);

        var result = await registry.MessageDropped.RunAsync(Dropped());

        Assert.Equal(["async", "sync-stop"], calls);
        Assert.Equal(HookResult.Stop, result);
    }

    [Fact]
    public async Task Dispose_Registration_RemovesOnlyThatCallback()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        var a = registry.Register(HookPoints.MessageDropped, Record(calls, "a"));
        registry.Register(HookPoints.MessageDropped, Record(calls, "b"));

        a.Dispose();
        a.Dispose(); // idempotent
        await registry.MessageDropped.RunAsync(Dropped());

        Assert.Equal(["b"], calls);
        Assert.Equal(1, registry.MessageDropped.Count);
    }

    [Fact]
    public async Task Dispose_LastRegistration_ChainEmptyAgain()
    {
        var registry = NewRegistry();
        Assert.True(registry.MessagePublish.IsEmpty);
        var registration = registry.Register(HookPoints.MessagePublish, _ => ValueTask.FromResult(HookResult.Continue));
        Assert.False(registry.MessagePublish.IsEmpty);

        registration.Dispose();

        // The hot path checks IsEmpty: no callback, no context allocation.
        Assert.True(registry.MessagePublish.IsEmpty);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task RemoveOwner_RemovesEveryCallbackOfThatOwnerOnEveryPoint()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        var plugin = registry.ForOwner("plugin_a");
        plugin.Register(HookPoints.MessageDropped, Record(calls, "a-dropped"));
        plugin.Register(HookPoints.SessionCreated, _ => ValueTask.FromResult(HookResult.Continue));
        registry.Register(HookPoints.MessageDropped, Record(calls, "b-dropped"), 0, "plugin_b");
        registry.Register(HookPoints.MessageDropped, Record(calls, "broker"));

        await registry.RemoveOwnerAsync("plugin_a");
        await registry.MessageDropped.RunAsync(Dropped());

        Assert.Equal(["b-dropped", "broker"], calls);
        Assert.True(registry.SessionCreated.IsEmpty);
    }

    // A plugin's StopAsync runs after its hooks are removed and their running calls have returned, so it may close
    // what they use (IBrokerPlugin remarks, SDK 2.1).
    [Fact]
    public async Task RemoveOwnerAsync_CallRunning_CompletesOnlyWhenTheCallReturns()
    {
        var registry = NewRegistry();
        var entered = new TaskCompletionSource();
        var release = new TaskCompletionSource<HookResult>();
        registry.Register(HookPoints.MessageDropped, _ =>
        {
            entered.SetResult();
            return new ValueTask<HookResult>(release.Task);
        }, 0, "plugin_a");
        var run = registry.MessageDropped.RunAsync(Dropped()).AsTask();
        await entered.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);

        var removal = registry.RemoveOwnerAsync("plugin_a");
        Assert.True(registry.MessageDropped.IsEmpty); // no new call gets in
        Assert.False(removal.IsCompleted); // the one running is waited for

        release.SetResult(HookResult.Continue);
        await removal.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(HookResult.Continue, await run.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken));
    }

    // A call past its timeout has been given up by the chain (its token fired): the removal does not wait for it longer.
    [Fact]
    public async Task RemoveOwnerAsync_CallPastItsTimeout_NotWaitedForLonger()
    {
        var registry = NewRegistry();
        registry.Register(HookPoints.MessageDropped, _ => new ValueTask<HookResult>(new TaskCompletionSource<HookResult>().Task),
            new HookOptions { Timeout = TimeSpan.FromSeconds(2) }, "stuck");
        _ = registry.MessageDropped.RunAsync(Dropped());

        var removal = registry.RemoveOwnerAsync("stuck");
        await _time.WaitForTimerAsync(TimeSpan.FromSeconds(2));
        Assert.False(removal.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(2));
        await removal.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
    }

    // A reload: the new instance registers (same priority, after the old one), then the old one is removed. A run that
    // read the chain before both, and reaches the old callback only after its removal (an earlier callback was still
    // awaiting), must not call the stopped instance, nor skip to the next source: it is answered by the new instance.
    [Fact]
    public async Task RunAsync_CallbackRemovedAfterTheRunBegan_NotCalledAndItsSuccessorAnswers()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        var first = new TaskCompletionSource<HookResult>();
        registry.Register(HookPoints.MessageDropped, _ =>
        {
            lock (calls)
                calls.Add("earlier");
            return new ValueTask<HookResult>(first.Task);
        }, 10, "other");
        registry.Register(HookPoints.MessageDropped, Record(calls, "old", HookResult.Stop), 5, "plugin#1");
        registry.Register(HookPoints.MessageDropped, Record(calls, "next source"), 0, "broker");
        var run = registry.MessageDropped.RunAsync(Dropped()).AsTask();

        registry.Register(HookPoints.MessageDropped, Record(calls, "new", HookResult.Stop), 5, "plugin#2");
        await registry.RemoveOwnerAsync("plugin#1").WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        first.SetResult(HookResult.Continue);

        Assert.Equal(HookResult.Stop, await run.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken));
        Assert.Equal(["earlier", "new"], calls);
    }

    // SDK 2.1: a registration's DisposeAsync removes it and completes when its running call has returned.
    [Fact]
    public async Task DisposeAsync_Registration_WaitsForItsRunningCall()
    {
        var registry = NewRegistry();
        var entered = new TaskCompletionSource();
        var release = new TaskCompletionSource<HookResult>();
        var registration = registry.Register(HookPoints.MessageDropped, _ =>
        {
            entered.SetResult();
            return new ValueTask<HookResult>(release.Task);
        });
        var run = registry.MessageDropped.RunAsync(Dropped()).AsTask();
        await entered.Task.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);

        var disposal = ((IAsyncDisposable)registration).DisposeAsync().AsTask();
        Assert.False(disposal.IsCompleted);
        release.SetResult(HookResult.Continue);
        await disposal.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
        await run.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task RunAsync_CallbackThrows_CountedAgainstOwnerAndChainStops()
    {
        var registry = NewRegistry();
        var calls = new List<string>();
        registry.Register(HookPoints.MessageDropped, _ => throw new InvalidOperationException("boom"), 10, "faulty");
        registry.Register(HookPoints.MessageDropped, Record(calls, "later"), 0, "other");

        var result = await registry.MessageDropped.RunAsync(Dropped());
        await registry.MessageDropped.RunAsync(Dropped());

        // HookChain.RunAsync: a failure is counted against its owner, and the chain stops there (for points
        // without a failure action the overall result is Continue).
        Assert.Equal(2, registry.Runner.TotalsOf("faulty").Failures);
        Assert.Equal(0, registry.Runner.TotalsOf("other").Failures);
        Assert.Empty(calls);
        Assert.Equal(HookResult.Continue, result);
    }

    [Fact]
    public async Task RunAsync_AsyncCallbackThrows_Counted()
    {
        var registry = NewRegistry();
        registry.Register(HookPoints.MessageDropped, async _ =>
        {
            await Task.Yield();
            throw new InvalidOperationException("late boom");
        }, 0, "faulty");

        await registry.MessageDropped.RunAsync(Dropped());

        Assert.Equal(1, registry.Runner.TotalsOf("faulty").Failures);
    }

    [Fact]
    public async Task RunAsync_CallbackOverrunsTimeout_FailsWithFailureAction()
    {
        var registry = NewRegistry();
        var never = new TaskCompletionSource<HookResult>();
        registry.Register(HookPoints.ClientAuthorize, c =>
        {
            c.Result = AuthorizationResult.Allow; // set before hanging: the timeout must still deny
            return new ValueTask<HookResult>(never.Task);
        }, 0, "slow");
        var context = new ClientAuthorizeContext { Client = new ClientInfo { ClientId = "c" }, Action = AuthorizationAction.Publish, Topic = "t" };

        var pending = registry.ClientAuthorize.RunAsync(context).AsTask();
        await _time.WaitForTimerAsync(TimeSpan.FromSeconds(5));
        Assert.False(pending.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(5));
        var result = await pending.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);

        // plugins.hook_timeout: an overrun is a failure; client.authorize's failure action denies.
        Assert.Equal(HookResult.Stop, result);
        Assert.Equal(AuthorizationResult.Deny, context.Result);
        Assert.Equal(1, registry.Runner.TotalsOf("slow").Failures);
    }

    private static ClientAuthorizeContext Authorize() =>
        new() { Client = new ClientInfo { ClientId = "c" }, Action = AuthorizationAction.Publish, Topic = "t" };

    // HookOptions (SDK 1.4): a registration's own timeout, after which its CancellationToken has fired, and its own
    // failure action.
    [Fact]
    public async Task RunAsync_OwnTimeout_TokenFiresAndFailureActionApplies()
    {
        var registry = NewRegistry();
        CancellationToken seen = default;
        var never = new TaskCompletionSource<HookResult>();
        registry.Register(HookPoints.ClientAuthorize, c =>
        {
            seen = c.CancellationToken;
            return new ValueTask<HookResult>(never.Task);
        }, new HookOptions { Timeout = TimeSpan.FromSeconds(1) }, "backend");
        var context = Authorize();

        var pending = registry.ClientAuthorize.RunAsync(context).AsTask();
        Assert.False(seen.IsCancellationRequested);
        await _time.WaitForTimerAsync(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        var result = await pending.WaitAsync(PipeMqttClient.DefaultTimeout, TestContext.Current.CancellationToken);

        // 1 s, not plugins.hook_timeout's 5 s; the callback's token tells its backend call to stop.
        Assert.True(seen.IsCancellationRequested);
        Assert.Equal((HookResult.Stop, AuthorizationResult.Deny), (result, context.Result));
        Assert.Equal(1, registry.Runner.TotalsOf("backend").Failures);
    }

    [Fact]
    public async Task RunAsync_FailureActionIgnore_NextSourceDecides()
    {
        var registry = NewRegistry();
        registry.Register(HookPoints.ClientAuthorize, _ => throw new InvalidOperationException("backend down"),
            new HookOptions { Priority = 10, OnFailure = HookFailureAction.Ignore }, "fail-open");
        registry.Register(HookPoints.ClientAuthorize, c =>
        {
            c.Result = AuthorizationResult.Allow;
            return ValueTask.FromResult(HookResult.Stop);
        }, 0, "next");
        var context = Authorize();

        var result = await registry.ClientAuthorize.RunAsync(context);

        // Counted as a failure, but not a denial: the next callback decides.
        Assert.Equal((HookResult.Stop, AuthorizationResult.Allow), (result, context.Result));
        Assert.Equal(1, registry.Runner.TotalsOf("fail-open").Failures);
    }

    [Fact]
    public async Task RunAsync_SynchronousCallback_TokenNotCancelledAndReleasedAfterwards()
    {
        var registry = NewRegistry();
        CancellationToken seen = default;
        registry.Register(HookPoints.MessageDropped, c =>
        {
            seen = c.CancellationToken;
            return ValueTask.FromResult(HookResult.Continue);
        });

        await registry.MessageDropped.RunAsync(Dropped());

        // The timer behind it is gone with the callback: it never fires later.
        Assert.False(seen.IsCancellationRequested);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(seen.IsCancellationRequested);
        Assert.Equal(CancellationToken.None, Dropped().CancellationToken); // outside a chain
    }

    [Fact]
    public async Task RunAsync_BlockingCallback_RunsOffTheCallingThreadWhichIsFreeWhileItBlocks()
    {
        var registry = NewRegistry();
        using var release = new ManualResetEventSlim();
        var calls = new List<string>();
        registry.Register(HookPoints.MessageDropped, _ =>
        {
            release.Wait(TimeSpan.FromSeconds(30)); // a synchronous backend call
            calls.Add("blocking");
            return ValueTask.FromResult(HookResult.Continue);
        }, new HookOptions { Blocking = true }, "slow");
        registry.Register(HookPoints.MessageDropped, Record(calls, "after"), new HookOptions { Priority = HookPriorities.Observer }, "fast");

        var running = registry.MessageDropped.RunAsync(Dropped());

        // The caller (a connection's I/O thread) got its thread back while the callback still blocks: called on this
        // thread, the callback would have held it until its wait timed out, and the chain would be complete here.
        Assert.False(running.IsCompleted);
        release.Set();
        Assert.Equal(HookResult.Continue, await running);
        Assert.Equal(["blocking", "after"], calls);
        Assert.Equal((0L, 1L), (registry.Runner.TotalsOf("slow").Calls, registry.Runner.TotalsOf("slow").OffloadedCalls));
        // A call on the calling thread is counted from samples: the first of each callback stands for SampleEvery.
        Assert.Equal((Sample, 0L), (registry.Runner.TotalsOf("fast").Calls, registry.Runner.TotalsOf("fast").OffloadedCalls));
    }

    private const long Sample = HookChain<MessageDroppedContext>.SampleEvery;

    [Fact]
    public async Task RunAsync_TimeOnTheCallingThread_SampledAndCountedAgainstTheOwner()
    {
        var registry = NewRegistry();
        registry.Register(HookPoints.MessageDropped, _ =>
        {
            // Work done synchronously, on the caller's thread: what the owner costs every connection of that thread.
            // 20 ms: far above what a preempted no-op can be charged on a loaded two-core machine (a full suite run
            // once charged the sampled no-op 4 ms a call, which 2 ms of work could not outweigh).
            var until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 50;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until)
            {
            }
            return ValueTask.FromResult(HookResult.Continue);
        }, HookPriorities.Default, "busy");
        registry.Register(HookPoints.MessageDropped, Noop, HookPriorities.Observer, "idle");

        // Two sampling periods: calls 1 and Sample + 1 of each callback are timed, each standing for Sample calls.
        for (var i = 0; i < 2 * Sample; i++)
            await registry.MessageDropped.RunAsync(Dropped());

        var busy = registry.Runner.TotalsOf("busy");
        var idle = registry.Runner.TotalsOf("idle");
        Assert.Equal((2 * Sample, 2 * Sample), (busy.Calls, idle.Calls));
        Assert.InRange(busy.Time, TimeSpan.FromMilliseconds(20 * 2 * Sample), TimeSpan.FromSeconds(60)); // 20 ms each
        Assert.True(idle.Time < busy.Time / 2, $"idle {idle.Time}, busy {busy.Time}");
        Assert.Equal(default, registry.Runner.TotalsOf("never-registered"));
    }

    [Fact]
    public void Registry_EveryHookPoint_HasAChain()
    {
        var registry = NewRegistry();
        foreach (var point in HookPoints.All)
        {
            // Register through the untyped list: every declared point must be registrable.
            var method = typeof(HookRegistry).GetMethods()
                .Single(m => m.Name == nameof(HookRegistry.Register) && m.GetParameters() is [_, _, { ParameterType.Name: "Int32" }, _])
                .MakeGenericMethod(point.GetType().GetGenericArguments()[0]);
            var callbackType = typeof(HookCallback<>).MakeGenericType(point.GetType().GetGenericArguments()[0]);
            var noop = typeof(HookChainTests).GetMethod(nameof(Noop), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(point.GetType().GetGenericArguments()[0]);
            var callback = Delegate.CreateDelegate(callbackType, noop);
            using var registration = (IDisposable)method.Invoke(registry, [point, callback, 0, "probe"])!;
        }
        Assert.Equal(19, HookPoints.All.Count);
        Assert.Equal(HookPoints.All.Count, HookPoints.All.Select(p => p.Name).Distinct().Count());
    }

    private static ValueTask<HookResult> Noop<T>(T context) => ValueTask.FromResult(HookResult.Continue);
}

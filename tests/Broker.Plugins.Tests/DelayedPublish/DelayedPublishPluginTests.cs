using Broker.Core.Tests.TestTransport;
using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Plugins.DelayedPublish;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>
/// The plugin's life cycle against an in-memory host that orders hooks and starts/stops instances the way the
/// PluginManager does (reload: start the new instance, then stop the old one and remove its hooks).
/// </summary>
public sealed class DelayedPublishPluginTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly FakeHookBroker _broker;
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("delayed-plugin-");

    public DelayedPublishPluginTests() => _broker = new FakeHookBroker(_time, "delayed.count");

    public void Dispose() => _data.Delete(recursive: true);

    private Task<(DelayedPublishPlugin Plugin, FakePluginContext Context)> StartAsync(DelayedPublishOptions? options = null) =>
        _broker.StartAsync<DelayedPublishPlugin>("delayed_publish", _data.FullName, options ?? new DelayedPublishOptions());

    private Task StopAsync(DelayedPublishPlugin plugin, FakePluginContext instance) => _broker.StopAsync(plugin, instance);

    private async Task<BrokerMessage> NextRoutedAsync() =>
        await _broker.Routed.Reader.ReadAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(s_wait, TestContext.Current.CancellationToken);

    private static string Text(BrokerMessage m) => Encoding.UTF8.GetString(m.Payload.Span);

    [Fact]
    public async Task DelayedPublish_NotRouted_AcceptedWithSuccess_PublishedToTargetWhenDue()
    {
        var (plugin, instance) = await StartAsync();

        var outcome = await _broker.ClientPublishAsync("$delayed/10/a/b", "m", MqttQos.ExactlyOnce, retain: true);

        Assert.Equal((false, MqttReasonCode.Success), outcome);
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
        _time.Advance(TimeSpan.FromSeconds(10));
        var routed = await NextRoutedAsync();
        Assert.Equal(("a/b", "m", MqttQos.ExactlyOnce, true, "client-1"), (routed.Topic, Text(routed), routed.Qos, routed.Retain, routed.PublisherId));
        Assert.Equal(0, _broker.Gauge);
        await StopAsync(plugin, instance);
    }

    [Theory]
    [InlineData("$delayed/x/t", MqttReasonCode.TopicNameInvalid)]
    [InlineData("$delayed/handoff", MqttReasonCode.TopicNameInvalid)] // a client cannot forge the hand-over
    [InlineData("$delayed/11/t", MqttReasonCode.ImplementationSpecificError)]
    public async Task Refused_NotRouted_WithReasonCode(string topic, MqttReasonCode expected)
    {
        var (plugin, instance) = await StartAsync(new DelayedPublishOptions { MaxDelay = TimeSpan.FromSeconds(10) });

        Assert.Equal((false, expected), await _broker.ClientPublishAsync(topic, "m"));

        await StopAsync(plugin, instance);
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
    }

    [Fact]
    public async Task Full_QuotaExceeded()
    {
        var (plugin, instance) = await StartAsync(new DelayedPublishOptions { MaxDelayedMessages = 1 });

        Assert.Equal((false, MqttReasonCode.Success), await _broker.ClientPublishAsync("$delayed/5/t", "1"));
        Assert.Equal((false, MqttReasonCode.QuotaExceeded), await _broker.ClientPublishAsync("$delayed/5/t", "2"));
        Assert.Equal(1, _broker.Gauge);

        await StopAsync(plugin, instance);
    }

    [Fact]
    public async Task Reload_HandsPendingMessagesToTheNewInstance_EachPublishedOnce_ByTheNewOne()
    {
        var (old, oldInstance) = await StartAsync();
        for (var i = 1; i <= 3; i++)
            await _broker.ClientPublishAsync($"$delayed/{i}/t", $"before-{i}");

        // Reload: the new instance starts while the old one is still in the chain, ahead of it.
        var (fresh, freshInstance) = await StartAsync();
        Assert.Equal(3, _broker.Gauge);
        Assert.Equal((false, MqttReasonCode.Success), await _broker.ClientPublishAsync("$delayed/1/t", "during"));
        await StopAsync(old, oldInstance);
        Assert.Equal(4, _broker.Gauge);
        Assert.Empty(_data.GetFiles()); // handed over in memory, nothing written
        await _broker.ClientPublishAsync("$delayed/2/t", "after");

        _time.Advance(TimeSpan.FromSeconds(3));
        var payloads = new List<string>();
        for (var i = 0; i < 5; i++)
            payloads.Add(Text(await NextRoutedAsync()));
        Assert.Equal(["before-1", "during", "before-2", "after", "before-3"], payloads);
        Assert.All(_broker.PublishedBy, owner => Assert.Same(freshInstance, owner));
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
        await StopAsync(fresh, freshInstance);
    }

    [Fact]
    public async Task Reload_PublishWhoseChainPredatesTheNewInstance_IsKeptByTheNewOne()
    {
        var (old, oldInstance) = await StartAsync();
        // A client publish that took its chain (gate, old instance) before the new instance registered, and reaches
        // the old instance only after the hand-over: passed on, it would be routed to "$delayed/1/late" and lost.
        var gate = _broker.HoldPublishesTo("$delayed/1/late");
        var late = _broker.ClientPublishAsync("$delayed/1/late", "late");
        Assert.False(late.IsCompleted);

        var (fresh, freshInstance) = await StartAsync();
        gate.SetResult();
        Assert.Equal((false, MqttReasonCode.Success), await late);
        await StopAsync(old, oldInstance);
        Assert.Equal(1, _broker.Gauge);

        _time.Advance(TimeSpan.FromSeconds(1));
        var routed = await NextRoutedAsync();
        Assert.Equal(("late", "late"), (routed.Topic, Text(routed)));
        Assert.All(_broker.PublishedBy, owner => Assert.Same(freshInstance, owner));
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
        await StopAsync(fresh, freshInstance);
    }

    [Fact]
    public async Task Unload_SavesPending_NextLoadTakesThem_OverdueAtOnce()
    {
        var (first, firstInstance) = await StartAsync();
        await _broker.ClientPublishAsync("$delayed/5/t", "overdue");
        await _broker.ClientPublishAsync("$delayed/60/t", "later");
        await StopAsync(first, firstInstance);
        Assert.Equal(0, _broker.Gauge);
        Assert.True(File.Exists(Path.Combine(_data.FullName, DelayedStore.FileName)));

        _time.Advance(TimeSpan.FromSeconds(30)); // while unloaded
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
        var (second, secondInstance) = await StartAsync();

        Assert.Equal("overdue", Text(await NextRoutedAsync()));
        Assert.Equal(1, _broker.Gauge);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("later", Text(await NextRoutedAsync()));
        await StopAsync(second, secondInstance);
    }

    [Fact]
    public async Task RamStorage_FileFromAnotherProcess_IsDropped()
    {
        var file = Path.Combine(_data.FullName, DelayedStore.FileName);
        DelayedStore.Save(file, [new DelayedEntry(_time.GetUtcNow().AddSeconds(1), new BrokerMessage { Topic = "t" })]);
        var bytes = File.ReadAllBytes(file);
        // Rewrite the recorded process as another one (same length, so the format stays valid).
        var process = Encoding.UTF8.GetBytes(DelayedStore.CurrentProcess);
        var at = bytes.AsSpan().IndexOf(process);
        bytes[at] = (byte)(bytes[at] == (byte)'9' ? '8' : '9');
        File.WriteAllBytes(file, bytes);

        var (plugin, instance) = await StartAsync(new DelayedPublishOptions { StorageType = DelayedStorageType.Ram });

        Assert.Equal(0, _broker.Gauge);
        Assert.False(File.Exists(file));
        _time.Advance(TimeSpan.FromSeconds(2));
        await StopAsync(plugin, instance);
        Assert.False(_broker.Routed.Reader.TryPeek(out _));
    }
}

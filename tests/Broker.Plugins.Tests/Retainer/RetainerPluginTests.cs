using System.Text;
using Broker.Core.Tests.TestTransport;
using Broker.Plugins.Retainer;

namespace Broker.Plugins.Tests.Retainer;

/// <summary>The retainer's reload hand-over against <see cref="FakeHookBroker"/>.</summary>
public sealed class RetainerPluginTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly FakeHookBroker _broker;
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("retainer-plugin-");

    public RetainerPluginTests() => _broker = new FakeHookBroker(_time, "retained.count");

    public void Dispose() => _data.Delete(recursive: true);

    private Task<(RetainerPlugin Plugin, FakePluginContext Context)> StartAsync() =>
        _broker.StartAsync<RetainerPlugin>("retainer", _data.FullName, new RetainerOptions());

    private Task StopAsync(RetainerPlugin plugin, FakePluginContext context) => _broker.StopAsync(plugin, context);

    private async Task<string[]> RetainedFor(string filter) =>
        [.. (await _broker.SubscribeAsync(filter)).Select(m => Encoding.UTF8.GetString(m.Payload.Span)).Order()];

    [Fact]
    public async Task Reload_RetainedMessagesBeforeAndDuring_AreKeptByTheNewInstance()
    {
        var (old, oldContext) = await StartAsync();
        await _broker.ClientPublishAsync("t/before", "before", retain: true);

        var (fresh, freshContext) = await StartAsync();
        await _broker.ClientPublishAsync("t/during", "during", retain: true);
        await StopAsync(old, oldContext);
        await _broker.ClientPublishAsync("t/after", "after", retain: true);

        Assert.Equal(["after", "before", "during"], await RetainedFor("t/+"));
        Assert.Equal(3, _broker.Gauge);
        await StopAsync(fresh, freshContext);
    }

    [Fact]
    public async Task Reload_RetainedPublishWhoseChainPredatesTheNewInstance_IsStoredByTheNewOne()
    {
        var (old, oldContext) = await StartAsync();
        // A client publish that took its chain (gate, old instance) before the new instance registered, and reaches
        // the old instance only after the hand-over: observed by no instance that still stores, it would be routed
        // but not retained.
        var gate = _broker.HoldPublishesTo("t/late");
        var late = _broker.ClientPublishAsync("t/late", "late", retain: true);
        Assert.False(late.IsCompleted);

        var (fresh, freshContext) = await StartAsync();
        gate.SetResult();
        Assert.True((await late).Routed);
        await StopAsync(old, oldContext);

        Assert.Equal(["late"], await RetainedFor("t/late"));
        Assert.Equal(1, _broker.Gauge);
        await StopAsync(fresh, freshContext);
    }
}

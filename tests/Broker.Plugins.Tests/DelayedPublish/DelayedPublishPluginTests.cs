using Broker.Core.Tests.TestTransport;
using System.Collections.Concurrent;
using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Plugins.DelayedPublish;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>
/// The plugin's life cycle against an in-memory host that orders hooks and starts/stops instances the way the
/// PluginManager does (reload: start the new instance, then stop the old one and remove its hooks).
/// </summary>
public sealed class DelayedPublishPluginTests : IDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();
    private readonly FakeBroker _broker;
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("delayed-plugin-");

    public DelayedPublishPluginTests() => _broker = new FakeBroker(_time);

    public void Dispose() => _data.Delete(recursive: true);

    private async Task<(DelayedPublishPlugin Plugin, PluginInstance Instance)> StartAsync(DelayedPublishOptions? options = null)
    {
        var instance = new PluginInstance(_broker, _time, _data.FullName, options ?? new DelayedPublishOptions());
        var plugin = new DelayedPublishPlugin();
        await plugin.StartAsync(instance, TestContext.Current.CancellationToken);
        return (plugin, instance);
    }

    private async Task StopAsync(DelayedPublishPlugin plugin, PluginInstance instance)
    {
        instance.SignalStopping();
        await plugin.StopAsync(TestContext.Current.CancellationToken);
        _broker.RemoveOwner(instance);
    }

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
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _broker.Register(new object(), async context =>
        {
            if (context.Message.Topic == "$delayed/1/late")
                await gate.Task;
            return HookResult.Continue;
        }, int.MaxValue);
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

    /// <summary>A hook chain and router in miniature: priorities high first, ties in registration order.</summary>
    private sealed class FakeBroker(TimeProvider time) : IBrokerServices
    {
        private readonly Lock _lock = new();
        private readonly List<(int Priority, long Order, object Owner, HookCallback<MessagePublishContext> Callback)> _chain = [];
        private long _order;
        private int _gauge;

        public System.Threading.Channels.Channel<BrokerMessage> Routed { get; } = System.Threading.Channels.Channel.CreateUnbounded<BrokerMessage>();

        public ConcurrentQueue<object> PublishedBy { get; } = new();

        public int Gauge => Volatile.Read(ref _gauge);

        public string NodeName => "test@127.0.0.1";

        public void Register(object owner, HookCallback<MessagePublishContext> callback, int priority)
        {
            lock (_lock)
                _chain.Add((priority, _order++, owner, callback));
        }

        public void RemoveOwner(object owner)
        {
            lock (_lock)
                _chain.RemoveAll(c => c.Owner == owner);
        }

        public async Task<(bool Routed, MqttReasonCode Reason)> ClientPublishAsync(string topic, string payload, MqttQos qos = MqttQos.AtLeastOnce, bool retain = false)
        {
            var context = new MessagePublishContext
            {
                Client = new ClientInfo { ClientId = "client-1" },
                Message = new BrokerMessage { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Qos = qos, Retain = retain, PublisherId = "client-1", Timestamp = time.GetUtcNow() },
            };
            await RunAsync(context);
            if (context.Route)
                Routed.Writer.TryWrite(context.Message);
            return (context.Route, context.ReasonCode);
        }

        public async ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default)
        {
            var context = new MessagePublishContext { Message = message.Timestamp == default ? message with { Timestamp = time.GetUtcNow() } : message };
            var owner = await RunAsync(context);
            if (!context.Route)
                return -1;
            PublishedBy.Enqueue(CurrentPublisher.Value ?? owner ?? this);
            Routed.Writer.TryWrite(context.Message);
            return 1;
        }

        /// <summary>Which instance is publishing (set by <see cref="PluginInstance"/>'s services wrapper).</summary>
        public AsyncLocal<object?> CurrentPublisher { get; } = new();

        private async Task<object?> RunAsync(MessagePublishContext context)
        {
            List<(int Priority, long Order, object Owner, HookCallback<MessagePublishContext> Callback)> chain;
            lock (_lock)
                chain = [.. _chain.OrderByDescending(c => c.Priority).ThenBy(c => c.Order)];
            foreach (var entry in chain)
            {
                if (await entry.Callback(context) == HookResult.Stop)
                    return entry.Owner;
            }
            return null;
        }

        public void SetGauge(string name, long value)
        {
            Assert.Equal("delayed.count", name);
            Volatile.Write(ref _gauge, (int)value);
        }

        public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options) => throw new NotSupportedException();
        public bool Unsubscribe(string clientId, string topicFilter) => throw new NotSupportedException();
        public ClientInfo? FindClient(string clientId) => null;
        public IReadOnlyList<ClientInfo> ListClients() => [];
        public IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null) => [];
        public Task<bool> KickAsync(string clientId) => Task.FromResult(false);
    }

    /// <summary>One instance's context: its own hook owner, and a Broker that remembers which instance published.</summary>
    private sealed class PluginInstance : IPluginContext, IHookRegistry, IBrokerServices
    {
        private readonly FakeBroker _broker;
        private readonly DelayedPublishOptions _options;
        private readonly CancellationTokenSource _stopping = new();

        public PluginInstance(FakeBroker broker, TimeProvider time, string dataDirectory, DelayedPublishOptions options)
        {
            _broker = broker;
            _options = options;
            TimeProvider = time;
            DataDirectory = dataDirectory;
        }

        public string Name => "delayed_publish";
        public IConfiguration Configuration { get; } = new ConfigurationBuilder().Build();
        public ILoggerFactory LoggerFactory => NullLoggerFactory.Instance;
        public IHookRegistry Hooks => this;
        public TimeProvider TimeProvider { get; }
        public string DataDirectory { get; }
        public IBrokerServices Broker => this;
        public CancellationToken Stopping => _stopping.Token;
        public T BindOptions<T>() where T : new() => (T)(object)_options;
        public void SignalStopping() => _stopping.Cancel();

        public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default) where TContext : class
        {
            Assert.Same(HookPoints.MessagePublish, point);
            _broker.Register(this, (HookCallback<MessagePublishContext>)(object)callback, priority);
            return new Registration();
        }

        public string NodeName => _broker.NodeName;

        public async ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default)
        {
            _broker.CurrentPublisher.Value = this;
            return await _broker.PublishAsync(message, cancellationToken);
        }

        public void SetGauge(string name, long value) => _broker.SetGauge(name, value);
        public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options) => _broker.Subscribe(clientId, topicFilter, options);
        public bool Unsubscribe(string clientId, string topicFilter) => _broker.Unsubscribe(clientId, topicFilter);
        public ClientInfo? FindClient(string clientId) => null;
        public IReadOnlyList<ClientInfo> ListClients() => [];
        public IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null) => [];
        public Task<bool> KickAsync(string clientId) => Task.FromResult(false);

        private sealed class Registration : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}

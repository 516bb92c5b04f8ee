using System.Collections.Concurrent;
using System.Text;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Plugins.Tests;

/// <summary>
/// A hook chain and router in miniature, for a plugin's reload hand-over: <c>message.publish</c> and
/// <c>session.subscribed</c> callbacks run priorities high first, ties in registration order, as the broker's do, and
/// instances are started and stopped the way the PluginManager does (reload: start the new instance, then stop the old
/// one and remove its hooks).
/// </summary>
/// <param name="time">The clock for message timestamps.</param>
/// <param name="gauge">The one gauge the plugin under test may set.</param>
internal sealed class FakeHookBroker(TimeProvider time, string gauge) : IBrokerServices
{
    private readonly Lock _lock = new();
    private readonly List<(int Priority, long Order, object Owner, object Point, object Callback)> _chain = [];
    private long _order;
    private int _gauge;

    public System.Threading.Channels.Channel<BrokerMessage> Routed { get; } = System.Threading.Channels.Channel.CreateUnbounded<BrokerMessage>();

    public ConcurrentQueue<object> PublishedBy { get; } = new();

    public int Gauge => Volatile.Read(ref _gauge);

    public string NodeName => "test@127.0.0.1";

    /// <summary>Which instance is publishing (set by <see cref="FakePluginContext"/>).</summary>
    public AsyncLocal<object?> CurrentPublisher { get; } = new();

    public void Register<TContext>(object owner, HookPoint<TContext> point, HookCallback<TContext> callback, int priority)
        where TContext : class
    {
        Assert.True(ReferenceEquals(point, HookPoints.MessagePublish) || ReferenceEquals(point, HookPoints.SessionSubscribed), $"unexpected hook point {point}");
        lock (_lock)
            _chain.Add((priority, _order++, owner, point, callback));
    }

    /// <summary>
    /// Holds every publish to <paramref name="topic"/> at a gate ahead of all plugins until the returned source is
    /// completed: a publish whose hook chain was taken before a reload, still on its way.
    /// </summary>
    public TaskCompletionSource HoldPublishesTo(string topic)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Register(new object(), HookPoints.MessagePublish, async context =>
        {
            if (context.Message.Topic == topic)
                await gate.Task;
            return HookResult.Continue;
        }, int.MaxValue);
        return gate;
    }

    public void RemoveOwner(object owner)
    {
        lock (_lock)
            _chain.RemoveAll(c => c.Owner == owner);
    }

    /// <summary>Starts a new instance of <typeparamref name="TPlugin"/> with its own context, as a load or reload does.</summary>
    public async Task<(TPlugin Plugin, FakePluginContext Context)> StartAsync<TPlugin>(string name, string dataDirectory, object options, IPluginCluster? cluster = null)
        where TPlugin : IBrokerPlugin, new()
    {
        var context = new FakePluginContext(this, time, name, dataDirectory, options);
        if (cluster is not null)
            context.Cluster = cluster;
        var plugin = new TPlugin();
        await plugin.StartAsync(context, TestContext.Current.CancellationToken);
        return (plugin, context);
    }

    /// <summary>Stops an instance and then removes its hooks, in the PluginManager's order.</summary>
    public async Task StopAsync(IBrokerPlugin plugin, FakePluginContext context)
    {
        context.SignalStopping();
        await plugin.StopAsync(TestContext.Current.CancellationToken);
        RemoveOwner(context);
    }

    public async Task<(bool Routed, MqttReasonCode Reason)> ClientPublishAsync(string topic, string payload, MqttQos qos = MqttQos.AtLeastOnce, bool retain = false)
    {
        var context = new MessagePublishContext
        {
            Client = new ClientInfo { ClientId = "client-1" },
            Message = new BrokerMessage { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Qos = qos, Retain = retain, PublisherId = "client-1", Timestamp = time.GetUtcNow() },
        };
        await RunAsync(HookPoints.MessagePublish, context);
        if (context.Route)
            Routed.Writer.TryWrite(context.Message);
        return (context.Route, context.ReasonCode);
    }

    /// <summary>A new subscription of client-1's: what the <c>session.subscribed</c> callbacks deliver to it.</summary>
    public async Task<List<BrokerMessage>> SubscribeAsync(string topicFilter)
    {
        var delivered = new List<BrokerMessage>();
        var context = new SessionSubscribedContext(m =>
        {
            lock (delivered)
                delivered.Add(m);
        })
        {
            Client = new ClientInfo { ClientId = "client-1" },
            TopicFilter = topicFilter,
            Options = new SubscriptionOptions(MqttQos.AtLeastOnce),
            IsNew = true,
        };
        await RunAsync(HookPoints.SessionSubscribed, context);
        return delivered;
    }

    public async ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default)
    {
        var context = new MessagePublishContext { Message = message.Timestamp == default ? message with { Timestamp = time.GetUtcNow() } : message };
        var owner = await RunAsync(HookPoints.MessagePublish, context);
        if (!context.Route)
            return -1;
        PublishedBy.Enqueue(CurrentPublisher.Value ?? owner ?? this);
        Routed.Writer.TryWrite(context.Message);
        return 1;
    }

    private async Task<object?> RunAsync<TContext>(HookPoint<TContext> point, TContext context)
        where TContext : class
    {
        List<(int Priority, long Order, object Owner, object Point, object Callback)> chain;
        lock (_lock)
            chain = [.. _chain.Where(c => ReferenceEquals(c.Point, point)).OrderByDescending(c => c.Priority).ThenBy(c => c.Order)];
        foreach (var entry in chain)
        {
            if (await ((HookCallback<TContext>)entry.Callback)(context) == HookResult.Stop)
                return entry.Owner;
        }
        return null;
    }

    public void SetGauge(string name, long value)
    {
        Assert.Equal(gauge, name);
        Volatile.Write(ref _gauge, (int)value);
    }

    public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options) => throw new NotSupportedException();
    public bool Unsubscribe(string clientId, string topicFilter) => throw new NotSupportedException();
    public ClientInfo? FindClient(string clientId) => null;
    public IReadOnlyList<ClientInfo> ListClients() => [];
    public IReadOnlyList<SubscriptionInfo> ListSubscriptions(string? clientId = null) => [];
    public Task<bool> KickAsync(string clientId) => Task.FromResult(false);
}

/// <summary>One plugin instance's context: its own hook owner, and a Broker that remembers which instance published.</summary>
internal sealed class FakePluginContext(FakeHookBroker broker, TimeProvider time, string name, string dataDirectory, object options)
    : IPluginContext, IHookRegistry, IBrokerServices
{
    private readonly CancellationTokenSource _stopping = new();

    public string Name => name;
    public IPluginCluster Cluster { get; set; } = new FakeCluster("test@127.0.0.1");
    public IConfiguration Configuration { get; } = new ConfigurationBuilder().Build();
    public ILoggerFactory LoggerFactory => NullLoggerFactory.Instance;
    public IHookRegistry Hooks => this;
    public TimeProvider TimeProvider => time;
    public string DataDirectory => dataDirectory;
    public IBrokerServices Broker => this;
    public CancellationToken Stopping => _stopping.Token;
    public T BindOptions<T>() where T : new() => (T)options;
    public void SignalStopping() => _stopping.Cancel();

    public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default) where TContext : class
    {
        broker.Register(this, point, callback, priority);
        return new Registration();
    }

    public string NodeName => broker.NodeName;

    public async ValueTask<int> PublishAsync(BrokerMessage message, CancellationToken cancellationToken = default)
    {
        broker.CurrentPublisher.Value = this;
        return await broker.PublishAsync(message, cancellationToken);
    }

    public void SetGauge(string name, long value) => broker.SetGauge(name, value);
    public bool Subscribe(string clientId, string topicFilter, SubscriptionOptions options) => broker.Subscribe(clientId, topicFilter, options);
    public bool Unsubscribe(string clientId, string topicFilter) => broker.Unsubscribe(clientId, topicFilter);
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

/// <summary>
/// One node of a plugin's cluster in miniature: alone, a single broker; <see cref="Pair"/>ed, two nodes whose plugin
/// copies reach each other's listener directly, while <see cref="Connected"/> (broadcasts are dropped otherwise, as
/// for a node cut off).
/// </summary>
internal sealed class FakeCluster(string nodeName) : IPluginCluster
{
    private FakeCluster? _peer;

    public IPluginClusterListener? Listener { get; private set; }

    public bool Connected { get; set; }

    /// <summary>Requests this node answered.</summary>
    public int RequestsServed;

    public bool Enabled => _peer is not null;

    public string NodeName { get; } = nodeName;

    public static (FakeCluster A, FakeCluster B) Pair(string a, string b)
    {
        var (first, second) = (new FakeCluster(a), new FakeCluster(b));
        (first._peer, second._peer) = (second, first);
        return (first, second);
    }

    public IReadOnlyList<string> RunningNodes() => _peer is { } peer && Connected ? [peer.NodeName] : [];

    public void Broadcast(ReadOnlyMemory<byte> message)
    {
        if (_peer is { Listener: { } listener } && Connected)
            listener.OnMessageAsync(NodeName, message.ToArray(), CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    public async Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_peer is not { Listener: { } listener } peer || !Connected || peer.NodeName != node)
            throw new PluginClusterException($"node {node} is not running");
        Interlocked.Increment(ref peer.RequestsServed);
        return await listener.OnRequestAsync(NodeName, request.ToArray(), cancellationToken);
    }

    public IDisposable Listen(IPluginClusterListener listener)
    {
        Listener = listener;
        return new Registration();
    }

    private sealed class Registration : IDisposable
    {
        public void Dispose()
        {
        }
    }
}

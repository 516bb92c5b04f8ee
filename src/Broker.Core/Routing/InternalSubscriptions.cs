using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Core.Logging;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Routing;

/// <summary>
/// Subscriptions without a client session (<see cref="IPluginContext.SubscribeInternal"/>): bridges, topic metrics,
/// web hooks. They live in a router of their own, matched after the sessions' only while one exists, so without them
/// a publish costs one read more.
/// </summary>
/// <remarks>
/// A delivery never waits: each subscription has a bounded queue drained by one task that calls its handler; a full
/// queue drops the message (counted, logged through the log throttle). A handler that throws is counted and logged,
/// and the next message is handed to it as usual. Filters follow MQTT's rules (a filter starting with a wildcard does
/// not match <c>$</c> topics [MQTT-4.7.2-1]); shared subscriptions are for clients and are refused.
/// </remarks>
/// <param name="routes">The sessions' router, which announces each filter subscribed here as a route of this node, so
/// that in a cluster the other nodes forward its messages here (<see cref="Router{TSubscriber}.HoldRoute"/>).</param>
/// <param name="logThrottle">Limits the drop and failure warnings.</param>
/// <param name="logger">For those warnings.</param>
internal sealed partial class InternalSubscriptions(Router<Sessions.Session> routes, LogThrottle logThrottle, ILogger logger)
{
    private readonly Router<InternalSubscription> _router = new(SharedSubscriptionStrategy.Random);
    [ThreadStatic]
    private static List<RouteMatch<InternalSubscription>>? t_matches;

    /// <summary>Subscriptions now (zero: <see cref="Deliver"/> is never called).</summary>
    public int Count => _router.SubscriptionCount;

    /// <summary>Every filter subscribed, for the route listing.</summary>
    public IEnumerable<string> Filters => _router.Snapshot().Select(static s => s.TopicFilter);

    /// <summary>Subscribes <paramref name="handler"/> to <paramref name="topicFilter"/> for <paramref name="owner"/> (a plugin's name).</summary>
    /// <exception cref="ArgumentException">Not a valid filter, or a shared subscription.</exception>
    public InternalSubscription Add(string owner, string topicFilter, Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (!Topics.IsValidFilter(topicFilter))
            throw new ArgumentException($"'{topicFilter}' is not a valid topic filter", nameof(topicFilter));
        if (Topics.SharePrefixLength(topicFilter) > 0)
            throw new ArgumentException($"'{topicFilter}': shared subscriptions are for clients; an internal subscription receives every match", nameof(topicFilter));
        var subscription = new InternalSubscription(this, owner, topicFilter, handler, capacity);
        _router.Subscribe(subscription, topicFilter, new SubscriptionOptions(MqttQos.ExactlyOnce, false, true, MqttRetainHandling.DoNotSend));
        routes.HoldRoute(topicFilter);
        subscription.Start();
        return subscription;
    }

    /// <summary>Hands <paramref name="message"/> to every matching subscription's queue; returns how many took it.</summary>
    public int Deliver(BrokerMessage message)
    {
        var matches = t_matches ??= new List<RouteMatch<InternalSubscription>>(4);
        matches.Clear();
        _router.Match(message.Topic, message.PublisherId, matches);
        var taken = 0;
        foreach (var match in matches)
        {
            if (match.Subscriber.TryQueue(message))
                taken++;
        }
        matches.Clear();
        return taken;
    }

    internal void Remove(InternalSubscription subscription)
    {
        _router.Unsubscribe(subscription, subscription.TopicFilter);
        routes.ReleaseRoute(subscription.TopicFilter);
    }

    internal void Dropped(InternalSubscription subscription)
    {
        if (logThrottle.ShouldLog(90, nameof(LogDropped), subscription.Owner))
            LogDropped(logger, subscription.Owner, subscription.TopicFilter, subscription.Capacity);
    }

    internal void Failed(InternalSubscription subscription, Exception ex)
    {
        if (logThrottle.ShouldLog(91, nameof(LogFailed), subscription.Owner))
            LogFailed(logger, ex, subscription.Owner, subscription.TopicFilter);
    }

    [LoggerMessage(EventId = 90, Level = LogLevel.Warning, Message = "Internal subscription of {Owner} to {Filter} is behind by {Capacity} messages: the message is dropped")]
    private static partial void LogDropped(ILogger logger, string owner, string filter, int capacity);

    [LoggerMessage(EventId = 91, Level = LogLevel.Error, Message = "Internal subscription of {Owner} to {Filter}: the handler failed")]
    private static partial void LogFailed(ILogger logger, Exception ex, string owner, string filter);
}

/// <summary>One internal subscription: its queue, the task draining it into the handler, and its counts.</summary>
internal sealed class InternalSubscription : ISubscriber, IInternalSubscription
{
    private readonly InternalSubscriptions _owner;
    private readonly Func<BrokerMessage, CancellationToken, ValueTask> _handler;
    private readonly Channel<BrokerMessage> _queue;
    private readonly CancellationTokenSource _stop = new();
    private Task _drain = Task.CompletedTask;
    private long _received;
    private long _dropped;
    private long _failed;
    private int _disposed;

    internal InternalSubscription(InternalSubscriptions owner, string plugin, string topicFilter,
        Func<BrokerMessage, CancellationToken, ValueTask> handler, int capacity)
    {
        _owner = owner;
        Owner = plugin;
        TopicFilter = topicFilter;
        Capacity = capacity;
        _handler = handler;
        _queue = Channel.CreateBounded<BrokerMessage>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    /// <summary>The plugin that subscribed.</summary>
    public string Owner { get; }

    public string TopicFilter { get; }

    public int Capacity { get; }

    public long Received => Interlocked.Read(ref _received);

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Failed => Interlocked.Read(ref _failed);

    // The router's view: never the publisher (no-local does not apply), always "connected".
    string ISubscriber.ClientId => "$internal/" + Owner;

    bool ISubscriber.IsConnected => true;

    internal void Start() => _drain = Task.Run(DrainAsync);

    internal bool TryQueue(BrokerMessage message)
    {
        if (_queue.Writer.TryWrite(message))
            return true;
        if (Volatile.Read(ref _disposed) == 0)
        {
            Interlocked.Increment(ref _dropped);
            _owner.Dropped(this);
        }
        return false;
    }

    private async Task DrainAsync()
    {
        var token = _stop.Token;
        try
        {
            await foreach (var message in _queue.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _received);
                try
                {
                    await _handler(message, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    Interlocked.Increment(ref _failed);
                    _owner.Failed(this, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    /// <summary>Unsubscribes at once; what is still queued is dropped and the handler's token fires.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _owner.Remove(this);
        _queue.Writer.TryComplete();
        _stop.Cancel();
    }
}

using Broker.Abstractions.Hooks;
using Microsoft.Extensions.Logging;

namespace Broker.Core.Hooks;

/// <summary>
/// Every hook chain of the broker. The core calls the typed chains directly (no lookup on the hot path);
/// registrations go through <see cref="Register{TContext}(HookPoint{TContext}, HookCallback{TContext}, int, string)"/>
/// and carry their owner, so stopping a plugin removes all of its callbacks at once.
/// </summary>
internal sealed class HookRegistry : IHookRegistry
{
    /// <summary>The owner of callbacks registered by the broker itself.</summary>
    public const string BrokerOwner = "broker";

    private readonly Dictionary<HookPoint, IHookChain> _chains = [];

    public HookRegistry(TimeSpan timeout, TimeProvider timeProvider, ILogger logger)
    {
        Runner = new HookRunner(timeout, timeProvider, logger);
        ClientConnect = Add(HookPoints.ClientConnect);
        ClientConnack = Add(HookPoints.ClientConnack);
        ClientAuthenticate = Add(HookPoints.ClientAuthenticate, static c => c.Result = AuthenticationResult.Deny);
        ClientAuthorize = Add(HookPoints.ClientAuthorize, static c => c.Result = AuthorizationResult.Deny);
        ClientConnected = Add(HookPoints.ClientConnected);
        ClientDisconnected = Add(HookPoints.ClientDisconnected);
        ClientSubscribe = Add(HookPoints.ClientSubscribe);
        ClientUnsubscribe = Add(HookPoints.ClientUnsubscribe);
        SessionCreated = Add(HookPoints.SessionCreated);
        SessionSubscribed = Add(HookPoints.SessionSubscribed);
        SessionUnsubscribed = Add(HookPoints.SessionUnsubscribed);
        SessionResumed = Add(HookPoints.SessionResumed);
        SessionDiscarded = Add(HookPoints.SessionDiscarded);
        SessionTakenOver = Add(HookPoints.SessionTakenOver);
        SessionTerminated = Add(HookPoints.SessionTerminated);
        MessagePublish = Add(HookPoints.MessagePublish);
        MessageDelivered = Add(HookPoints.MessageDelivered);
        MessageAcked = Add(HookPoints.MessageAcked);
        MessageDropped = Add(HookPoints.MessageDropped);
    }

    public HookRunner Runner { get; }
    public HookChain<ClientConnectContext> ClientConnect { get; }
    public HookChain<ClientConnackContext> ClientConnack { get; }
    public HookChain<ClientAuthenticateContext> ClientAuthenticate { get; }
    public HookChain<ClientAuthorizeContext> ClientAuthorize { get; }
    public HookChain<ClientConnectedContext> ClientConnected { get; }
    public HookChain<ClientDisconnectedContext> ClientDisconnected { get; }
    public HookChain<ClientSubscribeContext> ClientSubscribe { get; }
    public HookChain<ClientUnsubscribeContext> ClientUnsubscribe { get; }
    public HookChain<SessionContext> SessionCreated { get; }
    public HookChain<SessionSubscribedContext> SessionSubscribed { get; }
    public HookChain<SessionUnsubscribedContext> SessionUnsubscribed { get; }
    public HookChain<SessionContext> SessionResumed { get; }
    public HookChain<SessionContext> SessionDiscarded { get; }
    public HookChain<SessionContext> SessionTakenOver { get; }
    public HookChain<SessionTerminatedContext> SessionTerminated { get; }
    public HookChain<MessagePublishContext> MessagePublish { get; }
    public HookChain<MessageDeliveryContext> MessageDelivered { get; }
    public HookChain<MessageDeliveryContext> MessageAcked { get; }
    public HookChain<MessageDroppedContext> MessageDropped { get; }

    public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
        where TContext : class => Register(point, callback, priority, BrokerOwner);

    public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority, string owner)
        where TContext : class => Register(point, callback, new HookOptions { Priority = priority }, owner);

    public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, HookOptions options)
        where TContext : class => Register(point, callback, options, BrokerOwner);

    public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, HookOptions options, string owner)
        where TContext : class
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentNullException.ThrowIfNull(options);
        return ((HookChain<TContext>)_chains[point]).Add(callback, options, owner);
    }

    /// <summary>
    /// Removes every callback <paramref name="owner"/> registered, on every hook point, and completes when none of them
    /// runs any more (a call past its timeout is not waited for further).
    /// </summary>
    public Task RemoveOwnerAsync(string owner)
    {
        var removed = new List<HookCalls>();
        foreach (var chain in _chains.Values)
            removed.AddRange(chain.RemoveOwner(owner));
        return removed.Count == 0 ? Task.CompletedTask : Task.WhenAll(removed.Select(r => r.IdleAsync(Runner.TimeProvider)));
    }

    /// <summary>A registry view whose registrations all belong to <paramref name="owner"/> (what a plugin gets).</summary>
    public IHookRegistry ForOwner(string owner) => new OwnedRegistry(this, owner);

    private HookChain<T> Add<T>(HookPoint<T> point, Action<T>? onFailure = null) where T : class
    {
        var chain = new HookChain<T>(point, Runner, onFailure);
        _chains.Add(point, chain);
        return chain;
    }

    private sealed class OwnedRegistry(HookRegistry inner, string owner) : IHookRegistry
    {
        public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
            where TContext : class => inner.Register(point, callback, priority, owner);

        public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, HookOptions options)
            where TContext : class => inner.Register(point, callback, options, owner);
    }
}

using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Core.Configuration;
using Broker.Core.Routing;
using Broker.Core.Sessions;
using Microsoft.Extensions.Logging;

namespace Broker.Core;

/// <summary>
/// Authorization through <c>client.authorize</c>: of a publish, of a subscription once at SUBSCRIBE, and of each
/// delivery through a subscription whose filter the rules allow only in part (<see cref="ClientAuthorizeContext"/>).
/// </summary>
/// <remarks>
/// A subscription's decision is stored with the router's authorization epoch (<see cref="DeliveryAuthorization"/>).
/// When the rules may have changed the epoch moves, every subscription is checked per delivery, and a background pass
/// authorizes each one again under the new epoch, after which those allowed in full cost nothing per message again.
/// </remarks>
internal sealed partial class BrokerEngine
{
    private int _reauthorizing;
    private readonly long _aclCacheTtl; // acl_cache_ttl in TimeProvider timestamp units
    private Task _reauthorization = Task.CompletedTask;

    /// <summary>The latest pass that authorizes every subscription again after the rules changed (for tests).</summary>
    internal Task Reauthorization => Volatile.Read(ref _reauthorization);

    /// <summary>
    /// Runs <c>client.authorize</c> for a publish (the connection's <see cref="AuthorizationCache"/> first); when every
    /// callback ignores, <c>acl_nomatch</c> decides.
    /// </summary>
    public ValueTask<bool> AuthorizeAsync(ClientInfo client, bool isSuperuser, AuthorizationAction action, string topic)
    {
        if (isSuperuser)
            return ValueTask.FromResult(true);
        return AuthorizeCachedAsync(client, action, topic, delivery: false);
    }

    /// <summary>
    /// Runs <c>client.authorize</c> for a SUBSCRIBE to <paramref name="filter"/> (without share prefix). Null when
    /// refused; else how deliveries through the subscription are authorized, for <see cref="Session.AddSubscription"/>.
    /// </summary>
    public ValueTask<long?> AuthorizeSubscriptionAsync(ClientInfo client, bool isSuperuser, string filter)
    {
        // Read before deciding: rules that change meanwhile leave the decision in an old epoch, which is then checked.
        var epoch = Router.AuthorizationEpoch;
        if (isSuperuser)
            return ValueTask.FromResult<long?>(DeliveryAuthorization.Decided(epoch, false));
        var context = new ClientAuthorizeContext { Client = client, Action = AuthorizationAction.Subscribe, Topic = filter };
        var pending = Hooks.ClientAuthorize.RunAsync(context);
        if (pending.IsCompletedSuccessfully)
            return ValueTask.FromResult(Grant(context, epoch));
        return AwaitGrantAsync(pending, context, epoch);
    }

    private async ValueTask<long?> AwaitGrantAsync(ValueTask<HookResult> pending, ClientAuthorizeContext context, long epoch)
    {
        await pending.ConfigureAwait(false);
        return Grant(context, epoch);
    }

    private long? Grant(ClientAuthorizeContext context, long epoch) =>
        Decide(context.Result) ? DeliveryAuthorization.Decided(epoch, context.CheckDeliveries) : null;

    /// <summary>Whether a message published to <paramref name="topic"/> may be delivered to <paramref name="subscriber"/>.</summary>
    public ValueTask<bool> AuthorizeDeliveryAsync(Session subscriber, string topic)
    {
        if (subscriber.IsSuperuser || subscriber.Client is not { } client)
            return ValueTask.FromResult(true);
        return AuthorizeCachedAsync(client, AuthorizationAction.Subscribe, topic, delivery: true);
    }

    private ValueTask<bool> AuthorizeCachedAsync(ClientInfo client, AuthorizationAction action, string topic, bool delivery)
    {
        var cache = CacheOf(client);
        long epoch = 0, now = 0;
        if (cache is not null)
        {
            epoch = Router.AuthorizationEpoch;
            now = TimeProvider.GetTimestamp();
            if (cache.TryGet(delivery, topic, epoch, now, out var cached))
                return ValueTask.FromResult(cached);
        }
        var context = new ClientAuthorizeContext { Client = client, Action = action, Topic = topic, IsDelivery = delivery };
        var pending = Hooks.ClientAuthorize.RunAsync(context);
        if (pending.IsCompletedSuccessfully)
            return ValueTask.FromResult(Remember(cache, context, epoch, now));
        return AwaitAndRememberAsync(pending, cache, context, epoch, now);
    }

    private async ValueTask<bool> AwaitAndRememberAsync(
        ValueTask<HookResult> pending, AuthorizationCache? cache, ClientAuthorizeContext context, long epoch, long now)
    {
        await pending.ConfigureAwait(false);
        return Remember(cache, context, epoch, now);
    }

    /// <summary>The decision, kept in the cache unless a callback failed (a backend's hiccup must not stick).</summary>
    private bool Remember(AuthorizationCache? cache, ClientAuthorizeContext context, long epoch, long now)
    {
        var allowed = Decide(context.Result);
        if (cache is not null && !context.CallbackFailed)
            cache.Add(context.IsDelivery, context.Topic, epoch, now + _aclCacheTtl, allowed);
        return allowed;
    }

    /// <summary>The connection's cache, made on first use; null when <c>enable_acl_cache</c> is off.</summary>
    private AuthorizationCache? CacheOf(ClientInfo client)
    {
        if (!AccessOptions.EnableAclCache)
            return null;
        if (Volatile.Read(ref client.AuthorizationCache) is AuthorizationCache cache)
            return cache;
        var created = new AuthorizationCache(AccessOptions.AclCacheMaxSize);
        return Interlocked.CompareExchange(ref client.AuthorizationCache, created, null) as AuthorizationCache ?? created;
    }

    /// <summary>Empties one connection's cache (<c>DELETE /api/v4/clients/{clientid}/acl_cache</c>); false when it has none.</summary>
    public static bool CleanAuthorizationCache(ClientInfo client) => Interlocked.Exchange(ref client.AuthorizationCache, null) is not null;

    private bool Decide(AuthorizationResult result) => result switch
    {
        AuthorizationResult.Allow => true,
        AuthorizationResult.Deny => false,
        _ => AccessOptions.AclNoMatch == AclNoMatch.Allow,
    };

    /// <summary>
    /// The delivery <paramref name="match"/> stands for if its subscriber may receive a message on
    /// <paramref name="topic"/>; else, for a shared subscription, another member's that may (connected members first);
    /// else null.
    /// </summary>
    private async ValueTask<RouteMatch<Session>?> AuthorizedRecipientAsync(RouteMatch<Session> match, string topic)
    {
        if (await AuthorizeDeliveryAsync(match.Subscriber, topic).ConfigureAwait(false))
            return match;
        if (match.Group is not { } group)
            return null;
        var epoch = Router.AuthorizationEpoch;
        var members = group.Members;
        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var member in members)
            {
                var subscriber = member.Subscriber;
                if (ReferenceEquals(subscriber, match.Subscriber) || subscriber.IsConnected != (pass == 0))
                    continue;
                if (!DeliveryAuthorization.IsNeeded(member.Authorization, epoch)
                    || await AuthorizeDeliveryAsync(subscriber, topic).ConfigureAwait(false))
                    return Router<Session>.MatchOf(member);
            }
        }
        return null;
    }

    /// <summary>A message the rules keep from one subscriber: counted, and reported to <c>message.dropped</c>.</summary>
    public void OnDeliveryDenied(BrokerMessage message, Session subscriber)
    {
        Metrics.DeliveryDenied();
        OnDropped(message, "not_authorized", false, subscriber.Client);
    }

    /// <summary>
    /// The authorization rules may have changed (acl.conf reloaded, a <c>client.authorize</c> callback registered or
    /// removed, a plugin's request): from now on every subscription is checked per delivery until it has been
    /// authorized again, which starts now in the background.
    /// </summary>
    public void InvalidateAuthorization()
    {
        Router.InvalidateAuthorization();
        if (Interlocked.Exchange(ref _reauthorizing, 1) == 0)
            Volatile.Write(ref _reauthorization, Task.Run(ReauthorizeAllAsync));
    }

    /// <summary>
    /// A session resumed by a new connection: its subscriptions were authorized for the old one (whose address or
    /// user name may differ), so they are checked per delivery until authorized again for the new one.
    /// </summary>
    public void ReauthorizeSubscriptions(Session session)
    {
        var subscriptions = Router.AuthorizedSubscriptions(session, session.SubscriptionFilters());
        if (subscriptions.Count == 0)
            return;
        var epoch = Router.AuthorizationEpoch;
        foreach (var subscription in subscriptions)
            subscription.Authorization = DeliveryAuthorization.Decided(epoch, true);
        _ = Task.Run(async () =>
        {
            foreach (var subscription in subscriptions)
                await ReauthorizeAsync(subscription, epoch).ConfigureAwait(false);
        });
    }

    private async Task ReauthorizeAllAsync()
    {
        while (true)
        {
            var epoch = Router.AuthorizationEpoch;
            var count = 0;
            foreach (var subscription in Router.AuthorizedSubscriptions())
            {
                // One made (or authorized again) since the rules changed was decided under them already: asking the
                // callbacks again would cost a backend query and tell nothing new.
                if (DeliveryAuthorization.IsDecidedUnder(subscription.Authorization, epoch))
                    continue;
                await ReauthorizeAsync(subscription, epoch).ConfigureAwait(false);
                count++;
            }
            if (count > 0)
                LogReauthorized(_logger, count);
            Volatile.Write(ref _reauthorizing, 0);
            // Rules that changed during the pass need another; a concurrent InvalidateAuthorization may have started it.
            if (Router.AuthorizationEpoch == epoch || Interlocked.Exchange(ref _reauthorizing, 1) != 0)
                return;
        }
    }

    private async ValueTask ReauthorizeAsync(Subscription<Session> subscription, long epoch)
    {
        var session = subscription.Subscriber;
        if (subscription.IsRemoved || session.Client is not { } client)
            return;
        try
        {
            var decision = await AuthorizeSubscriptionAsync(client, session.IsSuperuser, subscription.Route.Filter).ConfigureAwait(false);
            // A filter the new rules refuse outright stays subscribed (as in EMQX and mosquitto); each delivery is
            // checked, and denied.
            subscription.Authorization = decision ?? DeliveryAuthorization.Decided(epoch, true);
        }
        catch (Exception ex)
        {
            // Stays checked per delivery, which is always correct.
            LogReauthorizeFailed(_logger, session.ClientId, subscription.Route.Filter, ex);
        }
    }

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Authorized {Count} subscriptions again after the rules changed")]
    private static partial void LogReauthorized(ILogger logger, int count);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Authorizing subscription '{Filter}' of client '{ClientId}' again failed; its deliveries stay checked one by one")]
    private static partial void LogReauthorizeFailed(ILogger logger, string clientId, string filter, Exception exception);
}

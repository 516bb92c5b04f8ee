using System.Net;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Protocol;

namespace Broker.Core.AccessControl;

/// <summary>
/// The rules of <c>etc/acl.conf</c> (EMQX 4 syntax), checked in file order; the first rule that matches decides.
/// </summary>
/// <remarks>
/// <para>
/// A rule matches when its access covers the action, its who matches the client, and one of its topics matches:
/// for PUBLISH, a rule filter matches the topic name (<see cref="MqttTopic.Matches"/>); <c>{eq, T}</c> matches only
/// the literal T.
/// </para>
/// <para>
/// For SUBSCRIBE the client asks for a filter, a set of topics, and the rule decides for the whole set. An allow
/// rule matches only when its filter <em>covers</em> the requested one (rule <c>a/#</c> allows <c>a/+/b</c>; rule
/// <c>a/+</c> does not allow <c>a/#</c>, which would also deliver <c>a/x/y</c>). A deny rule matches when its filter
/// <em>overlaps</em> the requested one: with <c>{deny, all, subscribe, ["secret/#"]}</c> a subscription to
/// <c>+/x</c> would deliver <c>secret/x</c>, and nothing re-checks messages on delivery, so it is denied. Either way
/// a request is granted only if every topic it can receive is allowed. <c>{eq, F}</c> matches only the identical
/// filter (EMQX's way of denying a subscription to exactly <c>#</c>).
/// </para>
/// <para>
/// <c>%u</c> and <c>%c</c> in a topic are replaced by the client's user name and client id. Such a topic does not
/// match a client without a user name (or with an empty one). A user name or client id containing <c>+</c>,
/// <c>#</c> or <c>/</c> would widen the filter into other clients' topics (client id <c>+</c> on
/// <c>devices/%c/#</c>), so a rule that would substitute one denies instead, as mosquitto does.
/// </para>
/// <para>Immutable once loaded, so <see cref="Check"/> runs on any thread without locks.</para>
/// </remarks>
internal sealed partial class AclRules
{
    private readonly Rule[] _rules;

    private AclRules(Rule[] rules) => _rules = rules;

    /// <summary>No rules: every check is <see cref="AuthorizationResult.Ignore"/>.</summary>
    public static AclRules Empty { get; } = new([]);

    /// <summary>How many rules there are.</summary>
    public int Count => _rules.Length;

    /// <summary>Reads and parses <paramref name="path"/>.</summary>
    /// <exception cref="AccessFileException">A syntax error; the message names the line and what was expected.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static AclRules Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>The first matching rule's verdict, or <see cref="AuthorizationResult.Ignore"/> when none matches.</summary>
    /// <param name="client">The client.</param>
    /// <param name="action">Publish or subscribe.</param>
    /// <param name="topic">The topic name (publish) or the topic filter without a share prefix (subscribe).</param>
    public AuthorizationResult Check(ClientInfo client, AuthorizationAction action, string topic)
    {
        foreach (var rule in _rules)
        {
            if ((rule.Actions & action) == 0 || !rule.Who.Matches(client))
                continue;
            var verdict = rule.Allow ? AuthorizationResult.Allow : AuthorizationResult.Deny;
            if (rule.Topics is null)
                return verdict;
            foreach (var ruleTopic in rule.Topics)
            {
                var filter = ruleTopic.Filter;
                if (ruleTopic.HasPlaceholder)
                {
                    switch (Substitute(filter, client, out filter))
                    {
                        case Substitution.Missing:
                            continue;
                        case Substitution.Unsafe:
                            return AuthorizationResult.Deny;
                    }
                }
                if (TopicMatches(filter, ruleTopic.Exact, rule.Allow, action, topic))
                    return verdict;
            }
        }
        return AuthorizationResult.Ignore;
    }

    private static bool TopicMatches(string filter, bool exact, bool allow, AuthorizationAction action, string topic)
    {
        if (exact)
            return string.Equals(filter, topic, StringComparison.Ordinal);
        if (action == AuthorizationAction.Publish)
            return MqttTopic.Matches(filter, topic);
        return allow ? TopicFilterRelations.Covers(filter, topic) : TopicFilterRelations.Overlaps(filter, topic);
    }

    private static Substitution Substitute(string filter, ClientInfo client, out string result)
    {
        result = filter;
        if (filter.Contains("%u", StringComparison.Ordinal))
        {
            if (string.IsNullOrEmpty(client.Username))
                return Substitution.Missing;
            if (IsUnsafe(client.Username))
                return Substitution.Unsafe;
            result = result.Replace("%u", client.Username, StringComparison.Ordinal);
        }
        if (filter.Contains("%c", StringComparison.Ordinal))
        {
            if (client.ClientId.Length == 0)
                return Substitution.Missing;
            if (IsUnsafe(client.ClientId))
                return Substitution.Unsafe;
            result = result.Replace("%c", client.ClientId, StringComparison.Ordinal);
        }
        return Substitution.Done;
    }

    private static bool IsUnsafe(string value) => value.AsSpan().IndexOfAny('+', '#', '/') >= 0;

    private enum Substitution
    {
        Done,
        Missing,
        Unsafe,
    }

    /// <param name="Allow">Allow or deny.</param>
    /// <param name="Who">Whom the rule is about.</param>
    /// <param name="Actions">Publish, Subscribe or both (flags of <see cref="AuthorizationAction"/>).</param>
    /// <param name="Topics">The topics; null for <c>{allow|deny, all}</c>, which matches every topic.</param>
    /// <param name="Line">Where the rule starts, for diagnostics.</param>
    private sealed record Rule(bool Allow, Who Who, AuthorizationAction Actions, RuleTopic[]? Topics, int Line);

    private sealed record RuleTopic(string Filter, bool Exact, bool HasPlaceholder);

    private abstract class Who
    {
        public abstract bool Matches(ClientInfo client);
    }

    private sealed class AllWho : Who
    {
        public static AllWho Instance { get; } = new();

        public override bool Matches(ClientInfo client) => true;
    }

    private sealed class UserWho(string username) : Who
    {
        public override bool Matches(ClientInfo client) => string.Equals(client.Username, username, StringComparison.Ordinal);
    }

    private sealed class ClientWho(string clientId) : Who
    {
        public override bool Matches(ClientInfo client) => string.Equals(client.ClientId, clientId, StringComparison.Ordinal);
    }

    private sealed class AddressWho(IPNetwork network) : Who
    {
        public override bool Matches(ClientInfo client)
        {
            var address = client.RemoteEndPoint?.Address;
            if (address is null)
                return false;
            // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; rules name them as a.b.c.d.
            if (address.IsIPv4MappedToIPv6)
                address = address.MapToIPv4();
            return network.Contains(address);
        }
    }

    private sealed class AndWho(Who[] all) : Who
    {
        public override bool Matches(ClientInfo client)
        {
            foreach (var who in all)
            {
                if (!who.Matches(client))
                    return false;
            }
            return true;
        }
    }

    private sealed class OrWho(Who[] any) : Who
    {
        public override bool Matches(ClientInfo client)
        {
            foreach (var who in any)
            {
                if (who.Matches(client))
                    return true;
            }
            return false;
        }
    }
}

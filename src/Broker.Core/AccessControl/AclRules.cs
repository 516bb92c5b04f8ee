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
/// For SUBSCRIBE the client asks for a filter, a set of topics, and the rules may treat its topics differently:
/// with <c>{deny, all, subscribe, ["secret/#"]}.</c> then <c>{allow, all}.</c>, a subscription to <c>#</c> may
/// receive everything but <c>secret/...</c>. <see cref="CheckSubscription"/> walks the rules in order as every topic
/// of the filter would: a rule whose filter <em>covers</em> the requested one decides all topics still undecided
/// (rule <c>a/#</c> covers <c>a/+/b</c>; <c>{eq, F}</c> covers exactly the filter F), a rule that only
/// <em>overlaps</em> it decides some of them (<c>secret/#</c> and <c>#</c>). If every topic ends up allowed the
/// subscription is allowed outright, if every one denied it is refused, and otherwise it is allowed with
/// <c>partial</c> set: each message delivered through it is checked with <see cref="Check"/> against its topic name,
/// and the first rule that matches that name decides, exactly as for a publish.
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

    /// <summary>
    /// The verdict of the first rule for <paramref name="action"/> that matches the topic name
    /// <paramref name="topic"/>, or <see cref="AuthorizationResult.Ignore"/> when none does. For a publish, and for a
    /// message about to be delivered through a subscription that <see cref="CheckSubscription"/> allowed partly.
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="action">Publish, or Subscribe for a delivery.</param>
    /// <param name="topic">A topic name.</param>
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
                switch (Resolve(ruleTopic, client, out var filter))
                {
                    case Substitution.Missing:
                        continue;
                    case Substitution.Unsafe:
                        return AuthorizationResult.Deny;
                }
                if (ruleTopic.Exact ? string.Equals(filter, topic, StringComparison.Ordinal) : MqttTopic.Matches(filter, topic))
                    return verdict;
            }
        }
        return AuthorizationResult.Ignore;
    }

    /// <summary>
    /// The rules' decision for a SUBSCRIBE to <paramref name="filter"/> (see the type's remarks):
    /// <see cref="AuthorizationResult.Allow"/> or <see cref="AuthorizationResult.Deny"/> when every topic of the filter
    /// gets that verdict, <see cref="AuthorizationResult.Ignore"/> when no rule touches the filter. With
    /// <paramref name="partial"/> set the rules treat its topics differently: Allow when some topic is allowed, Ignore
    /// when the rules only deny some topics and leave the rest to the next source (or <c>acl_nomatch</c>).
    /// </summary>
    /// <param name="client">The client.</param>
    /// <param name="filter">The topic filter, without a share prefix.</param>
    /// <param name="partial">Set when each delivery must be checked with <see cref="Check"/>.</param>
    public AuthorizationResult CheckSubscription(ClientInfo client, string filter, out bool partial)
    {
        // Verdicts of the rules that decided some, not all, of the filter's topics so far.
        bool someAllowed = false, someDenied = false;
        foreach (var rule in _rules)
        {
            if ((rule.Actions & AuthorizationAction.Subscribe) == 0 || !rule.Who.Matches(client))
                continue;
            if (rule.Topics is null)
                return Decided(rule.Allow, someAllowed, someDenied, out partial);
            foreach (var ruleTopic in rule.Topics)
            {
                switch (Resolve(ruleTopic, client, out var ruleFilter))
                {
                    case Substitution.Missing:
                        continue;
                    case Substitution.Unsafe:
                        // As in Check: every topic that reaches this rule is denied.
                        return Decided(false, someAllowed, someDenied, out partial);
                }
                if (ruleTopic.Exact ? string.Equals(ruleFilter, filter, StringComparison.Ordinal) : Topics.Covers(ruleFilter, filter))
                    return Decided(rule.Allow, someAllowed, someDenied, out partial);
                if (!ruleTopic.Exact && Topics.Overlaps(ruleFilter, filter))
                {
                    someAllowed |= rule.Allow;
                    someDenied |= !rule.Allow;
                }
            }
        }
        // No rule decided every topic: the rest falls to the next source. Allowed topics keep the subscription.
        partial = someAllowed || someDenied;
        return someAllowed ? AuthorizationResult.Allow : AuthorizationResult.Ignore;
    }

    /// <summary>A rule decided every topic still undecided; earlier rules decided some with their own verdicts.</summary>
    private static AuthorizationResult Decided(bool allow, bool someAllowed, bool someDenied, out bool partial)
    {
        partial = allow ? someDenied : someAllowed;
        return allow || someAllowed ? AuthorizationResult.Allow : AuthorizationResult.Deny;
    }

    private static Substitution Resolve(RuleTopic ruleTopic, ClientInfo client, out string filter)
    {
        if (!ruleTopic.HasPlaceholder)
        {
            filter = ruleTopic.Filter;
            return Substitution.Done;
        }
        return Substitute(ruleTopic.Filter, client, out filter);
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

using System.Text.Json;
using Broker.Plugins.Auth;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>Which table a user is in: EMQX 4's <c>auth_username</c> or <c>auth_clientid</c>.</summary>
internal enum UserTable
{
    Username,
    ClientId,
}

/// <summary>Whom an ACL rule is about: one user name, one client id, or every client (<c>$all</c>).</summary>
internal enum RuleLogin
{
    Username,
    ClientId,
    All,
}

/// <summary>One user: the name (or client id) it is found by, its stored hash, and whether it is a superuser.</summary>
internal sealed record User(string Login, StoredPassword Password, bool IsSuperuser);

/// <summary>One ACL rule in EMQX 4's shape: login, topic filter (<c>%u</c>, <c>%c</c>), action, allow or deny.</summary>
internal sealed record Rule(RuleLogin Kind, string Login, string Topic, AclAccess Action, bool Allow)
{
    public const string All = "$all";

    /// <summary>The shared judge's row: its who-fields say whom it is about.</summary>
    public AclRule ToAclRule() => new()
    {
        Allow = Allow,
        Access = Action,
        Topic = Topic,
        Username = Kind switch { RuleLogin.Username => Login, RuleLogin.All => All, _ => null },
        ClientId = Kind == RuleLogin.ClientId ? Login : null,
    };

    public static string ActionName(AclAccess action) => action switch
    {
        AclAccess.Publish => "pub",
        AclAccess.Subscribe => "sub",
        _ => "pubsub",
    };

    /// <summary>
    /// A rule from EMQX 4's JSON: <c>username</c> or <c>clientid</c> (neither, or <c>all: "$all"</c>, = every client),
    /// <c>topic</c> (a topic filter), <c>action</c> (pub, sub, pubsub), <c>access</c> (allow, deny).
    /// </summary>
    public static bool TryParse(JsonElement element, out Rule rule, out string problem)
    {
        rule = null!;
        if (element.ValueKind != JsonValueKind.Object)
        {
            problem = "a rule is a JSON object {\"username\" | \"clientid\", \"topic\", \"action\", \"access\"}";
            return false;
        }
        foreach (var property in element.EnumerateObject())
        {
            if (property.Name is "username" or "clientid" or "all" or "topic" or "action" or "access" && property.Value.ValueKind != JsonValueKind.String)
            {
                problem = $"\"{property.Name}\" must be a string";
                return false;
            }
        }
        var username = Text(element, "username");
        var clientId = Text(element, "clientid");
        if (username is not null && clientId is not null)
        {
            problem = "a rule is about a username or a clientid, not both";
            return false;
        }
        if (username?.Length == 0 || clientId?.Length == 0)
        {
            problem = "\"username\" and \"clientid\" cannot be empty (leave both out for a rule about every client)";
            return false;
        }
        var topic = Text(element, "topic");
        var action = Text(element, "action");
        var access = Text(element, "access");
        problem = topic is null ? "\"topic\" is missing"
            : action is null ? "\"action\" is missing"
            : access is null ? "\"access\" is missing"
            : !Topics.IsValidFilter(topic) ? $"\"topic\" '{topic}' is not a valid topic filter"
            : !TryParseAction(action, out _) ? $"\"action\" must be pub, sub or pubsub, not '{action}'"
            : access is not ("allow" or "deny") ? $"\"access\" must be allow or deny, not '{access}'"
            : "";
        if (problem.Length > 0)
            return false;
        TryParseAction(action, out var parsed);
        rule = username is not null ? new Rule(RuleLogin.Username, username, topic!, parsed, access == "allow")
            : clientId is not null ? new Rule(RuleLogin.ClientId, clientId, topic!, parsed, access == "allow")
            : new Rule(RuleLogin.All, All, topic!, parsed, access == "allow");
        return true;
    }

    /// <summary>Whether two rules are the same entry (EMQX 4 keys a rule by login, topic and action): a new one replaces it.</summary>
    public bool SameEntry(Rule other) => Kind == other.Kind && Login == other.Login && Topic == other.Topic && Action == other.Action;

    private static bool TryParseAction(string? text, out AclAccess action)
    {
        action = text switch { "pub" => AclAccess.Publish, "sub" => AclAccess.Subscribe, "pubsub" => AclAccess.PubSub, _ => AclAccess.None };
        return action != AclAccess.None;
    }

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>
/// One immutable state of the database: both user tables and the rules in order, with the rules indexed by login so
/// an authorization check finds a client's in two lookups. A change makes a new one (<see cref="BuiltinStore"/>), so
/// readers never lock.
/// </summary>
internal sealed class BuiltinData
{
    private readonly Dictionary<string, AclRule[]> _rulesByUsername;
    private readonly Dictionary<string, AclRule[]> _rulesByClientId;
    private readonly AclRule[] _rulesForAll;

    public BuiltinData(Dictionary<string, User> usernames, Dictionary<string, User> clientIds, List<Rule> rules)
    {
        Usernames = usernames;
        ClientIds = clientIds;
        Rules = rules;
        _rulesByUsername = Index(rules, RuleLogin.Username);
        _rulesByClientId = Index(rules, RuleLogin.ClientId);
        _rulesForAll = [.. rules.Where(r => r.Kind == RuleLogin.All).Select(r => r.ToAclRule())];
    }

    public static BuiltinData Empty { get; } = new(new(StringComparer.Ordinal), new(StringComparer.Ordinal), []);

    public IReadOnlyDictionary<string, User> Usernames { get; }

    public IReadOnlyDictionary<string, User> ClientIds { get; }

    /// <summary>Every rule, in the order they were added (a rule replaced keeps its place).</summary>
    public IReadOnlyList<Rule> Rules { get; }

    public IReadOnlyDictionary<string, User> Table(UserTable table) => table == UserTable.Username ? Usernames : ClientIds;

    /// <summary>
    /// The rules about <paramref name="client"/> in the order they are judged, as EMQX 4's emqx_acl_mnesia: those of its
    /// client id, then those of its user name, then the <c>$all</c> rules; within each, the order they were added.
    /// </summary>
    public AclRuleSet RulesFor(ClientInfo client)
    {
        var byClientId = _rulesByClientId.GetValueOrDefault(client.ClientId) ?? [];
        var byUsername = string.IsNullOrEmpty(client.Username) ? [] : _rulesByUsername.GetValueOrDefault(client.Username) ?? [];
        return new AclRuleSet([.. byClientId, .. byUsername, .. _rulesForAll]);
    }

    private static Dictionary<string, AclRule[]> Index(List<Rule> rules, RuleLogin kind) =>
        rules.Where(r => r.Kind == kind).GroupBy(r => r.Login, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(r => r.ToAclRule()).ToArray(), StringComparer.Ordinal);
}

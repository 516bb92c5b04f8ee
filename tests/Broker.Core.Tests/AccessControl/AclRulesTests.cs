using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.AccessControl;
using Broker.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static Broker.Abstractions.Hooks.AuthorizationAction;
using static Broker.Abstractions.Hooks.AuthorizationResult;

namespace Broker.Core.Tests.AccessControl;

public sealed class AclRulesTests
{
    private static AclRules Rules(string text) => AclRules.Parse(text, "acl.conf");

    private static AuthorizationResult Check(string rules, ClientInfo client, AuthorizationAction action, string topic) =>
        Rules(rules).Check(client, action, topic);

    private static (AuthorizationResult Result, bool Partial) Subscription(string rules, ClientInfo client, string filter)
    {
        var result = Rules(rules).CheckSubscription(client, filter, out var partial);
        return (result, partial);
    }

    [Fact]
    public void Check_UserWho_MatchesOnlyThatUser()
    {
        const string acl = """{allow, {user, "alice"}, publish, ["t"]}.""";

        Assert.Equal(Allow, Check(acl, Clients.Make(username: "alice"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(username: "bob"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(clientId: "alice"), Publish, "t"));
    }

    [Fact]
    public void Check_ClientWho_MatchesOnlyThatClientId()
    {
        const string acl = """{deny, {client, "c9"}, publish, ["t"]}.""";

        Assert.Equal(Deny, Check(acl, Clients.Make(clientId: "c9"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(clientId: "c1", username: "c9"), Publish, "t"));
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("127.0.0.1", "127.0.0.2", false)]
    [InlineData("127.0.0.1", "::ffff:127.0.0.1", true)] // dual-stack listener
    [InlineData("10.0.0.0/8", "10.200.3.4", true)]
    [InlineData("10.0.0.0/8", "11.0.0.1", false)]
    [InlineData("10.1.2.3/8", "10.9.9.9", true)] // host bits are ignored, as in EMQX
    [InlineData("192.168.1.0/25", "192.168.1.127", true)]
    [InlineData("192.168.1.0/25", "192.168.1.128", false)]
    [InlineData("0.0.0.0/0", "8.8.8.8", true)]
    [InlineData("0.0.0.0/0", "::1", false)]
    [InlineData("::1", "::1", true)]
    [InlineData("::1", "127.0.0.1", false)]
    [InlineData("fd00::/8", "fd12:3456::1", true)]
    [InlineData("fd00::/8", "fe80::1", false)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/33", "2001:db8:8000::1", false)]
    public void Check_IpaddrWho_MatchesAddressOrCidr(string rule, string address, bool matches)
    {
        var acl = $$"""{allow, {ipaddr, "{{rule}}"}, pubsub, ["#"]}.""";

        Assert.Equal(matches ? Allow : Ignore, Check(acl, Clients.Make(address: address), Publish, "t"));
    }

    [Fact]
    public void Check_IpaddrWhoClientWithoutAddress_DoesNotMatch()
    {
        Assert.Equal(Ignore, Check("""{allow, {ipaddr, "0.0.0.0/0"}, pubsub, ["#"]}.""", Clients.Make(), Publish, "t"));
    }

    [Fact]
    public void Check_AndWho_RequiresAll()
    {
        const string acl = """{allow, {'and', [{user, "u"}, {ipaddr, "10.0.0.0/8"}]}, publish, ["t"]}.""";

        Assert.Equal(Allow, Check(acl, Clients.Make(username: "u", address: "10.1.1.1"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(username: "u", address: "11.1.1.1"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(username: "v", address: "10.1.1.1"), Publish, "t"));
    }

    [Fact]
    public void Check_OrWho_RequiresAny()
    {
        const string acl = """{allow, {'or', [{user, "u"}, {client, "c7"}]}, publish, ["t"]}.""";

        Assert.Equal(Allow, Check(acl, Clients.Make(username: "u"), Publish, "t"));
        Assert.Equal(Allow, Check(acl, Clients.Make(clientId: "c7"), Publish, "t"));
        Assert.Equal(Ignore, Check(acl, Clients.Make(username: "x"), Publish, "t"));
    }

    [Theory]
    [InlineData("publish", Publish, true)]
    [InlineData("publish", Subscribe, false)]
    [InlineData("subscribe", Publish, false)]
    [InlineData("subscribe", Subscribe, true)]
    [InlineData("pubsub", Publish, true)]
    [InlineData("pubsub", Subscribe, true)]
    public void Check_Access_LimitsTheActions(string access, AuthorizationAction action, bool matches)
    {
        var acl = $$"""{allow, all, {{access}}, ["t/#"]}.""";

        Assert.Equal(matches ? Allow : Ignore, Check(acl, Clients.Make(), action, "t/x"));
    }

    [Theory]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/+/c", "a/b/d", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("$SYS/#", "$SYS/x", true)]
    public void Check_Publish_RuleFilterMatchesTopicName(string filter, string topic, bool matches)
    {
        var acl = $$"""{allow, all, publish, ["{{filter}}"]}.""";

        Assert.Equal(matches ? Allow : Ignore, Check(acl, Clients.Make(), Publish, topic));
    }

    [Fact]
    public void Check_UsernamePlaceholder_OnlyOwnTree()
    {
        const string acl = """{allow, all, pubsub, ["users/%u/#"]}.""";
        var alice = Clients.Make(username: "alice");

        Assert.Equal(Allow, Check(acl, alice, Publish, "users/alice/x"));
        Assert.Equal((Allow, false), Subscription(acl, alice, "users/alice/#"));
        Assert.Equal(Ignore, Check(acl, alice, Publish, "users/bob/x"));
        Assert.Equal((Allow, true), Subscription(acl, alice, "users/+/x")); // users/alice/x only
        Assert.Equal(Ignore, Check(acl, alice, Subscribe, "users/bob/x")); // a delivery through it
        Assert.Equal(Ignore, Check(acl, alice, Publish, "users/%u/x"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Check_UsernamePlaceholderWithoutUsername_DoesNotMatch(string? username)
    {
        const string acl = """
            {allow, all, pubsub, ["users/%u/#"]}.
            {deny, all, pubsub, ["private/%u"]}.
            """;
        var client = Clients.Make(username: username);

        Assert.Equal(Ignore, Check(acl, client, Publish, "users/%u/x"));
        Assert.Equal(Ignore, Check(acl, client, Publish, "users//x"));
        Assert.Equal(Ignore, Check(acl, client, Publish, "private/%u"));
    }

    [Fact]
    public void Check_ClientIdPlaceholder_ReplacedAnywhereInTopic()
    {
        const string acl = """{allow, all, publish, ["devices/%c/up", "status/%c-%u"]}.""";
        var client = Clients.Make(clientId: "d1", username: "u");

        Assert.Equal(Allow, Check(acl, client, Publish, "devices/d1/up"));
        Assert.Equal(Allow, Check(acl, client, Publish, "status/d1-u"));
        Assert.Equal(Ignore, Check(acl, client, Publish, "devices/d2/up"));
    }

    [Theory]
    [InlineData("+", null)]
    [InlineData("#", null)]
    [InlineData("a/b", null)]
    [InlineData("ok", "+")]
    [InlineData("ok", "x/y")]
    public void Check_PlaceholderValueWithWildcardOrSlash_Denies(string clientId, string? username)
    {
        const string acl = """
            {allow, all, pubsub, ["devices/%c/#"]}.
            {allow, all, pubsub, ["users/%u/#"]}.
            {allow, all}.
            """;
        var client = Clients.Make(clientId: clientId, username: username);
        var topic = username is null ? "devices/x/y" : "users/x/y";

        Assert.Equal(Deny, Check(acl, client, Subscribe, topic));
        Assert.Equal((Deny, false), Subscription(acl, client, topic));
    }

    [Fact]
    public void Check_Eq_MatchesOnlyTheIdenticalFilter()
    {
        const string acl = """{deny, all, subscribe, [{eq, "#"}, {eq, "a/+"}]}.""";
        var client = Clients.Make();

        Assert.Equal((Deny, false), Subscription(acl, client, "#"));
        Assert.Equal((Deny, false), Subscription(acl, client, "a/+"));
        Assert.Equal((Ignore, false), Subscription(acl, client, "a/#"));
        Assert.Equal((Ignore, false), Subscription(acl, client, "a/b"));
        Assert.Equal(Ignore, Check(acl, client, Subscribe, "a/b")); // a delivery: no topic name is "a/+"
        Assert.Equal(Ignore, Check(acl, client, Publish, "a/b"));
    }

    [Fact]
    public void Check_SeveralMatchingRules_FirstWins()
    {
        const string acl = """
            {deny, {user, "bob"}, publish, ["a/secret"]}.
            {allow, all, publish, ["a/#"]}.
            {deny, all}.
            """;

        Assert.Equal(Deny, Check(acl, Clients.Make(username: "bob"), Publish, "a/secret"));
        Assert.Equal(Allow, Check(acl, Clients.Make(username: "alice"), Publish, "a/secret"));
        Assert.Equal(Allow, Check(acl, Clients.Make(username: "bob"), Publish, "a/public"));
        Assert.Equal(Deny, Check(acl, Clients.Make(username: "bob"), Publish, "b"));
    }

    [Fact]
    public void Check_NoRules_Ignore()
    {
        Assert.Equal(Ignore, Rules("%% nothing\n").Check(Clients.Make(), Publish, "t"));
        Assert.Equal(Ignore, AclRules.Empty.Check(Clients.Make(), Subscribe, "#"));
    }

    [Theory]
    [InlineData("a/#", "a/+/b", "Allow", false)]
    [InlineData("a/#", "a/#", "Allow", false)]
    [InlineData("a/#", "a", "Allow", false)]
    [InlineData("a/+", "a/b", "Allow", false)]
    [InlineData("a/+", "a/+", "Allow", false)]
    [InlineData("#", "#", "Allow", false)]
    [InlineData("+/b", "a/b", "Allow", false)]
    [InlineData("a/+", "a/#", "Allow", true)] // a/x allowed, a/x/y left to the next source
    [InlineData("a/b", "a/+", "Allow", true)]
    [InlineData("a/+", "a/b/c", "Ignore", false)]
    [InlineData("#", "$SYS/#", "Ignore", false)] // [MQTT-4.7.2-1]: "#" matches no $ topic
    public void CheckSubscription_AllowRule_CoversAllOrSomeTopics(string rule, string requested, string result, bool partial)
    {
        var acl = $$"""{allow, all, subscribe, ["{{rule}}"]}.""";

        Assert.Equal((Enum.Parse<AuthorizationResult>(result), partial), Subscription(acl, Clients.Make(), requested));
    }

    [Theory]
    [InlineData("secret/#", "secret/x", "Deny", false)]
    [InlineData("$SYS/#", "$SYS/+", "Deny", false)]
    [InlineData("secret/#", "+/x", "Ignore", true)] // secret/x denied, the rest left to the next source
    [InlineData("secret/#", "#", "Ignore", true)]
    [InlineData("a/+", "a/#", "Ignore", true)]
    [InlineData("secret/#", "public/#", "Ignore", false)]
    [InlineData("a/b", "a/c", "Ignore", false)]
    [InlineData("$SYS/#", "#", "Ignore", false)]
    [InlineData("$SYS/#", "+/x", "Ignore", false)]
    public void CheckSubscription_DenyRule_CoversAllOrSomeTopics(string rule, string requested, string result, bool partial)
    {
        var acl = $$"""{deny, all, subscribe, ["{{rule}}"]}.""";

        Assert.Equal((Enum.Parse<AuthorizationResult>(result), partial), Subscription(acl, Clients.Make(), requested));
    }

    [Theory]
    [InlineData("+/+", "Allow", true)]
    [InlineData("#", "Allow", true)]
    [InlineData("test/+", "Allow", true)]
    [InlineData("test/nosubscribe", "Deny", false)]
    [InlineData("test/other", "Allow", false)]
    [InlineData("other/#", "Allow", false)]
    public void CheckSubscription_OneDeniedTopicThenAllowAll_GrantsWildcardsWithChecks(string requested, string result, bool partial)
    {
        // The issue's case: denying one topic must not refuse "#" (mosquitto 2 and EMQX grant it and withhold that topic).
        const string acl = """
            {deny, all, subscribe, ["test/nosubscribe"]}.
            {allow, all}.
            """;
        var client = Clients.Make();

        Assert.Equal((Enum.Parse<AuthorizationResult>(result), partial), Subscription(acl, client, requested));
        Assert.Equal(Deny, Check(acl, client, Subscribe, "test/nosubscribe"));
        Assert.Equal(Allow, Check(acl, client, Subscribe, "test/x"));
    }

    [Fact]
    public void CheckSubscription_RulesInOrder_FirstCoveringRuleDecidesTheRest()
    {
        var client = Clients.Make();

        Assert.Equal((Allow, true), Subscription("""{allow, all, subscribe, ["a/#"]}. {deny, all}.""", client, "#"));
        Assert.Equal((Allow, false), Subscription("""{allow, all, subscribe, ["a/#"]}. {allow, all}.""", client, "#"));
        Assert.Equal((Deny, false), Subscription("""{deny, all, subscribe, ["a/#"]}. {deny, all}.""", client, "#"));
        Assert.Equal((Deny, false), Subscription("""{deny, all, subscribe, ["a/#"]}. {allow, all, subscribe, ["#"]}.""", client, "a/b"));
        Assert.Equal((Ignore, false), Subscription("""{deny, all, publish, ["#"]}.""", client, "#"));
    }

    [Fact]
    public void CheckSubscription_RandomRules_NeverGrantsUncheckedWhatATopicCheckWouldDeny()
    {
        // Soundness against the definition: a filter is the set of its topic names, and each name is judged by Check
        // (first matching rule). Allow without checks => every name allowed; Deny => every name denied; Ignore without
        // checks => no rule matches any name. Partial answers are always safe (each delivery is checked).
        var client = Clients.Make();
        var ruleGen =
            from allow in Gen.Elements(true, false)
            from filter in TopicsRelationsTests.FilterGen
            select $$"""{{{(allow ? "allow" : "deny")}}, all, subscribe, ["{{filter}}"]}.""";
        var rulesGen =
            from count in Gen.Choose(1, 4)
            from rules in ruleGen.ArrayOf(count)
            from all in Gen.Elements("", "{allow, all}.", "{deny, all}.")
            select string.Join('\n', [.. rules, all]);
        Prop.ForAll(rulesGen.ToArbitrary(), TopicsRelationsTests.FilterGen.ToArbitrary(), (text, filter) =>
            {
                var rules = Rules(text);
                var result = rules.CheckSubscription(client, filter, out var partial);
                if (partial)
                    return true;
                foreach (var topic in TopicsRelationsTests.Universe)
                {
                    if (MqttTopic.Matches(filter, topic) && rules.Check(client, Subscribe, topic) != result)
                        return false;
                }
                return true;
            })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(2000));
    }

    [Fact]
    public void Parse_CommentsQuotedAtomsAndLayout_Accepted()
    {
        var rules = Rules("""
            %% header
            {allow,   % who follows
               {'or', [{user, "a\"b"}, {client, "c"}]},
               pubsub,
               ["x/#"]}.   %% trailing
            {deny,all}.{'allow', all}.
            """);

        Assert.Equal(3, rules.Count);
        Assert.Equal(Allow, rules.Check(Clients.Make(username: "a\"b"), Publish, "x/1"));
        Assert.Equal(Deny, rules.Check(Clients.Make(), Publish, "x/1"));
    }

    [Theory]
    [InlineData("{allow, all}", 1, "expected '.' to end the rule that starts on line 1")]
    [InlineData("\n\n{allow, all, publish}.", 3, "expected a rule {allow|deny, Who, Access, [Topics]}")]
    [InlineData("{permit, all}.", 1, "expected allow or deny, got permit")]
    [InlineData("{allow, {user, \"u\"}}.", 1, "expected all in a two-element rule")]
    [InlineData("%%c\n{allow, {usr, \"u\"}, publish, [\"t\"]}.", 2, "expected a Who: all, {user, \"name\"}")]
    [InlineData("{allow, {user, alice}, publish, [\"t\"]}.", 1, "expected a user name as a \"string\", got alice")]
    [InlineData("{allow, {ipaddr, \"10.0.0.0/33\"}, publish, [\"t\"]}.", 1, "expected an IP address or CIDR")]
    [InlineData("{allow, {ipaddr, \"10.0.0\"}, publish, [\"t\"]}.", 1, "expected an IP address or CIDR")]
    [InlineData("{allow, {ipaddr, \"host.example\"}, publish, [\"t\"]}.", 1, "expected an IP address or CIDR")]
    [InlineData("{allow, {'and', []}, publish, [\"t\"]}.", 1, "expected a non-empty list of Who after 'and'")]
    [InlineData("{allow, all, write, [\"t\"]}.", 1, "expected publish, subscribe or pubsub, got write")]
    [InlineData("{allow, all, publish, \"t\"}.", 1, "expected a list of topics")]
    [InlineData("{allow, all, publish, []}.", 1, "expected at least one topic")]
    [InlineData("{allow, all, publish,\n [\"a/#/b\"]}.", 2, "\"a/#/b\" is not a valid topic filter")]
    [InlineData("{allow, all, publish, [{eq, 1}]}.", 1, "expected a term")]
    [InlineData("{allow, all, publish, [{ne, \"t\"}]}.", 1, "expected a topic \"a/b/#\" or {eq, \"topic\"}")]
    [InlineData("{allow, all, publish, [\"t\" \"u\"]}.", 1, "expected ',' or ']', got '\"'")]
    [InlineData("{allow, all, publish, [\"t\n\n", 1, "expected a closing \" for the string")]
    [InlineData("{allow, all.", 1, "expected ',' or '}', got '.'")]
    [InlineData("{allow, all, publish, [\"t\"]", 1, "expected ',' or '}', got the end of the file")]
    [InlineData("{allow, all, publish, [\"t\"]}\n{deny, all}.", 2, "expected '.' to end the rule that starts on line 1, got '{'")]
    [InlineData("{allow, all}.\n\n\nallow.", 4, "expected a rule")]
    public void Parse_SyntaxError_NamesFileLineAndExpectation(string text, int line, string expected)
    {
        var e = Assert.Throws<AccessFileException>(() => Rules(text));

        Assert.Equal(line, e.Line);
        Assert.StartsWith($"acl.conf:{line}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Load_MissingFile_Throws()
    {
        Assert.Throws<FileNotFoundException>(() => AclRules.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"))));
    }
}

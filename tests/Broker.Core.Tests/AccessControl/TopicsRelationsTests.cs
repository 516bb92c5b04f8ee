using Broker.Core.AccessControl;
using Broker.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Broker.Core.Tests.AccessControl;

/// <summary>
/// Covers and Overlaps checked against the definition: filters are sets of topics, as decided by
/// <see cref="MqttTopic.Matches"/>. Filters are drawn from a few levels so that random pairs often relate; the
/// reference enumerates every topic up to one level deeper than any filter over those levels plus a fresh one
/// ("z"), which is enough to witness any difference.
/// </summary>
public sealed class TopicsRelationsTests
{
    private static readonly string[] LiteralLevels = ["a", "b", "", "$s"];
    private static readonly string[] TopicLevels = ["a", "b", "", "$s", "z"];
    internal static readonly string[] Universe = BuildUniverse(4);

    internal static readonly Gen<string> FilterGen =
        from depth in Gen.Choose(1, 3)
        from levels in Gen.Elements([.. LiteralLevels, "+", "+"]).ArrayOf(depth)
        from hashTail in Gen.Elements(false, true)
        let filter = string.Join('/', hashTail ? [.. levels[..^1], "#"] : levels)
        where MqttTopic.IsValidTopicFilter(filter)
        select filter;

    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(3000);

    private static string[] BuildUniverse(int maxDepth)
    {
        var all = new List<string>();
        var current = new List<string>(TopicLevels);
        for (var depth = 1; depth <= maxDepth; depth++)
        {
            all.AddRange(current);
            var next = new List<string>();
            foreach (var prefix in current)
            {
                foreach (var level in TopicLevels)
                    next.Add(prefix + "/" + level);
            }
            current = next;
        }
        all.RemoveAll(t => t.Length == 0);
        return [.. all];
    }

    private static bool CoversByDefinition(string outer, string inner)
    {
        foreach (var topic in Universe)
        {
            if (MqttTopic.Matches(inner, topic) && !MqttTopic.Matches(outer, topic))
                return false;
        }
        return true;
    }

    private static bool OverlapsByDefinition(string a, string b)
    {
        foreach (var topic in Universe)
        {
            if (MqttTopic.Matches(a, topic) && MqttTopic.Matches(b, topic))
                return true;
        }
        return false;
    }

    [Fact]
    public void Covers_RandomFilters_EveryTopicOfInnerIsMatchedByOuter()
    {
        // The safety direction the ACL relies on: an allow rule never grants a topic its filter does not match.
        Prop.ForAll(FilterGen.ToArbitrary(), FilterGen.ToArbitrary(), Gen.Elements(Universe).ToArbitrary(),
                (outer, inner, topic) =>
                    !Broker.Abstractions.Topics.Covers(outer, inner) || !MqttTopic.Matches(inner, topic) || MqttTopic.Matches(outer, topic))
            .Check(Runs);
    }

    [Fact]
    public void Covers_RandomFilters_AgreesWithSetInclusion()
    {
        Prop.ForAll(FilterGen.ToArbitrary(), FilterGen.ToArbitrary(),
                (outer, inner) => Broker.Abstractions.Topics.Covers(outer, inner) == CoversByDefinition(outer, inner))
            .Check(Runs);
    }

    [Fact]
    public void Overlaps_RandomFilters_AgreesWithSetIntersection()
    {
        Prop.ForAll(FilterGen.ToArbitrary(), FilterGen.ToArbitrary(),
                (a, b) => Broker.Abstractions.Topics.Overlaps(a, b) == OverlapsByDefinition(a, b)
                    && Broker.Abstractions.Topics.Overlaps(a, b) == Broker.Abstractions.Topics.Overlaps(b, a))
            .Check(Runs);
    }

    [Fact]
    public void Covers_RandomFilters_ImpliesOverlap()
    {
        // Covered filters are non-empty sets, so a deny rule catches at least what the brief's "covers" would.
        Prop.ForAll(FilterGen.ToArbitrary(), FilterGen.ToArbitrary(),
                (outer, inner) => !Broker.Abstractions.Topics.Covers(outer, inner) || Broker.Abstractions.Topics.Overlaps(outer, inner))
            .Check(Runs);
    }

    [Theory]
    [InlineData("a/#", "a/+/b", true)]
    [InlineData("a/+", "a/#", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("a", "a/#", false)]
    [InlineData("+/+", "a/+", true)]
    [InlineData("+", "$SYS", false)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("$SYS/#", "$SYS/+/x", true)]
    [InlineData("a//b", "a/+/b", false)]
    [InlineData("a/+/b", "a//b", true)]
    [InlineData("+/#", "#", true)] // "#" has no parent topic; "+/#" matches every topic "#" does
    [InlineData("a/+/#", "a/#", false)] // but "a/#" also matches "a"
    [InlineData("+/+/#", "/#", true)] // the parent of "/#" is "", not a valid topic
    public void Covers_Examples(string outer, string inner, bool expected)
    {
        Assert.Equal(expected, Broker.Abstractions.Topics.Covers(outer, inner));
    }

    [Theory]
    [InlineData("a/+", "a/#", true)]
    [InlineData("secret/#", "+/x", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a", "a/#", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("#", "$SYS/#", false)]
    [InlineData("+/x", "$SYS/x", false)]
    [InlineData("$SYS/#", "$SYS/+", true)]
    [InlineData("+", "/#", false)] // would share only "", not a valid topic
    [InlineData("+", "+/#", true)]
    public void Overlaps_Examples(string a, string b, bool expected)
    {
        Assert.Equal(expected, Broker.Abstractions.Topics.Overlaps(a, b));
    }
}

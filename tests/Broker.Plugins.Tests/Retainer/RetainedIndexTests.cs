using Broker.Abstractions;
using Broker.Plugins.Retainer;

namespace Broker.Plugins.Tests.Retainer;

/// <summary>The topic trie against a brute-force matcher that compares every retained topic with the filter.</summary>
public sealed class RetainedIndexTests
{
    private static readonly string[] Levels = ["a", "b", "c", "", "$SYS", "$x", "long-level", "ü"];

    /// <summary>The reference model: MQTT 4.7 matching written as plainly as possible.</summary>
    internal static bool BruteForceMatches(string filter, string topic)
    {
        var f = filter.Split('/');
        var t = topic.Split('/');
        // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with $.
        if (topic.StartsWith('$') && (f[0] == "+" || f[0] == "#"))
            return false;
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#")
                return true; // matches the parent level too [MQTT-4.7.1-2]
            if (i >= t.Length)
                return false;
            if (f[i] != "+" && f[i] != t[i])
                return false;
        }
        return f.Length == t.Length;
    }

    private static string RandomTopic(Random random)
    {
        var count = random.Next(1, 5);
        return string.Join('/', Enumerable.Range(0, count).Select(i => Levels[random.Next(i == 0 ? Levels.Length : Levels.Length - 2)]));
    }

    private static string RandomFilter(Random random)
    {
        var count = random.Next(1, 5);
        var levels = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var roll = random.Next(10);
            if (roll == 0 || (roll == 1 && i == count - 1))
            {
                levels.Add("#");
                break;
            }
            levels.Add(roll < 4 ? "+" : Levels[random.Next(Levels.Length)]);
        }
        return string.Join('/', levels);
    }

    private static BrokerMessage Message(string topic) => new() { Topic = topic, Payload = new byte[] { 1 }, Retain = true };

    [Fact]
    public void Match_RandomTopicsAndFilters_AgreesWithBruteForce()
    {
        for (var seed = 0; seed < 300; seed++)
        {
            var random = new Random(seed);
            var index = new RetainedIndex();
            var model = new HashSet<string>(StringComparer.Ordinal);
            for (var op = 0; op < 60; op++)
            {
                var topic = RandomTopic(random);
                if (random.Next(4) == 0)
                {
                    Assert.Equal(model.Remove(topic), index.Remove(topic));
                }
                else
                {
                    Assert.Equal(model.Add(topic), index.Set(topic, Message(topic)));
                }
            }
            Assert.Equal(model.Count, index.Count);
            for (var f = 0; f < 40; f++)
            {
                var filter = RandomFilter(random);
                var found = new List<BrokerMessage>();
                index.Match(filter, found);
                var expected = model.Where(t => BruteForceMatches(filter, t)).Order(StringComparer.Ordinal).ToList();
                Assert.True(expected.SequenceEqual(found.Select(m => m.Topic).Order(StringComparer.Ordinal)),
                    $"seed {seed}, filter '{filter}': expected [{string.Join(", ", expected)}], got [{string.Join(", ", found.Select(m => m.Topic))}]");
            }
        }
    }

    [Theory]
    [InlineData("#", "a/b,/x,a")]                 // [MQTT-4.7.2-1]: not $SYS/up
    [InlineData("+/up", "")]                      // [MQTT-4.7.2-1]
    [InlineData("$SYS/#", "$SYS/up")]
    [InlineData("a/#", "a,a/b")]                  // [MQTT-4.7.1-2]: the parent level matches
    [InlineData("+/+", "a/b,/x")]                 // an empty first level is a level
    [InlineData("+", "a")]
    [InlineData("/+", "/x")]
    public void Match_SpecExamples(string filter, string expected)
    {
        var index = new RetainedIndex();
        foreach (var topic in new[] { "a/b", "$SYS/up", "/x", "a" })
            index.Set(topic, Message(topic));
        var found = new List<BrokerMessage>();
        index.Match(filter, found);
        Assert.Equal(expected.Split(',', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal),
            found.Select(m => m.Topic).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Set_SameTopic_ReplacesAndKeepsCount()
    {
        var index = new RetainedIndex();
        Assert.True(index.Set("a/b", Message("a/b")));
        var second = Message("a/b") with { Payload = new byte[] { 2 } };
        Assert.False(index.Set("a/b", second));
        Assert.Equal(1, index.Count);
        Assert.Same(second, index.Get("a/b"));
    }

    [Fact]
    public void Remove_PrunesEmptyBranches_ButKeepsUsedOnes()
    {
        var index = new RetainedIndex();
        index.Set("a/b/c", Message("a/b/c"));
        index.Set("a", Message("a"));
        Assert.True(index.Remove("a/b/c"));
        Assert.False(index.Remove("a/b"));
        Assert.Equal(1, index.Count);
        var all = new List<BrokerMessage>();
        index.Match("a/+", all);
        Assert.Empty(all);
        index.Match("#", all);
        Assert.Equal("a", Assert.Single(all).Topic);
    }
}

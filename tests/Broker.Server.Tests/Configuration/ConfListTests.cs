using Broker.Abstractions.Configuration;
using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

/// <summary>
/// [ConfList]: numbered entries <c>key.N</c> (plain values) and <c>key.N.field</c> (options objects), as the plugins'
/// rule lists and subscriptions use them, with the broker's messages naming file, line and key.
/// </summary>
public sealed class ConfListTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    public sealed class Entry : IValidatableOptions
    {
        [ConfKey("topic", "The topic.")]
        public string? Topic { get; set; }

        [ConfKey("qos", "The QoS.", Min = "0", Max = "2")]
        public int Qos { get; set; } = 1;

        [ConfKey("timeout", "A duration.")]
        public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

        public IEnumerable<(string Key, string Error)> Validate()
        {
            if (Topic is null)
                yield return ("topic", "is not set");
        }
    }

    public sealed class ListOptions
    {
        [ConfKey("x.single", "A plain key beside the lists.")]
        public int Single { get; set; } = 7;

        [ConfList("x.rule", "A rule.", Example = "a b c")]
        public SortedDictionary<int, string> Rules { get; set; } = [];

        [ConfList("x.entry", "An entry.")]
        public SortedDictionary<int, Entry> Entries { get; set; } = [];
    }

    private IReadOnlyList<ConfigurationError> TryBind(ListOptions options, params string[] lines) =>
        ConfBinder.TryBind(TempConf.Build(_temp.Write(lines)), options);

    [Fact]
    public void Bind_PlainAndObjectEntries_InAscendingNumber_FieldsDefaulted()
    {
        var options = new ListOptions();
        Assert.Empty(TryBind(options, "x.rule.10 = ten", "x.rule.2 = two", "x.entry.3.topic = a", "x.entry.1.topic = b", "x.entry.1.qos = 2", "x.entry.1.timeout = 1m"));

        Assert.Equal([2, 10], options.Rules.Keys);
        Assert.Equal(["two", "ten"], options.Rules.Values);
        Assert.Equal([1, 3], options.Entries.Keys);
        Assert.Equal(("b", 2, TimeSpan.FromMinutes(1)), (options.Entries[1].Topic, options.Entries[1].Qos, options.Entries[1].Timeout));
        Assert.Equal(("a", 1, TimeSpan.FromSeconds(5)), (options.Entries[3].Topic, options.Entries[3].Qos, options.Entries[3].Timeout));
        Assert.Equal(7, options.Single);
    }

    [Fact]
    public void Bind_NoEntries_KeepsTheDefault()
    {
        var options = new ListOptions { Rules = new() { [1] = "kept" } };
        Assert.Empty(TryBind(options, "x.single = 3"));
        Assert.Equal("kept", options.Rules[1]);
    }

    [Theory]
    [InlineData("x.entry.1.qos = 3", "broker.conf:2: x.entry.1.qos = \"3\": must be at most 2")]
    [InlineData("x.entry.1.timeout = soon", "broker.conf:2: x.entry.1.timeout = \"soon\": expected")]
    [InlineData("x.entry.1.qso = 1", "broker.conf:2: x.entry.1.qso = \"1\": unknown key; did you mean x.entry.1.qos?")]
    [InlineData("x.entry.1.color = red", "unknown key; the fields of x.entry.N are topic, qos, timeout")]
    [InlineData("x.entry.one.topic = a", "broker.conf:2: x.entry.one.topic = \"a\": x.entry.N: N must be a whole number from 1")]
    [InlineData("x.rule.0 = a", "broker.conf:2: x.rule.0 = \"a\": x.rule.N: N must be a whole number from 1")]
    [InlineData("x.rule.1.deeper = a", "broker.conf:2: x.rule.1.deeper = \"a\": unknown key; entries are x.rule.N = value")]
    public void Bind_BadEntry_NamesFileLineKeyAndProblem(string line, string expected)
    {
        var errors = TryBind(new ListOptions(), "x.entry.1.topic = t", line);

        Assert.Contains(errors, e => e.ToString().Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Bind_EntryFailsItsValidation_NamedByTheEntrysFirstLine()
    {
        var errors = TryBind(new ListOptions(), "x.entry.1.topic = t", "x.entry.2.qos = 0");

        Assert.EndsWith("broker.conf:2: x.entry.2.qos = \"0\": x.entry.2.topic is not set", Assert.Single(errors).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_EnvironmentVariable_SetsAnEntryField()
    {
        var configuration = TempConf.Build(_temp.Write("x.entry.1.topic = from-file"), new Dictionary<string, string>
        {
            ["BROKER_X__ENTRY__1__TOPIC"] = "from-env",
            ["BROKER_X__ENTRY__4__TOPIC"] = "added",
        });
        var options = new ListOptions();

        Assert.Empty(ConfBinder.TryBind(configuration, options));
        Assert.Equal(["from-env", "added"], options.Entries.Values.Select(e => e.Topic));
    }

    [Fact]
    public void CheckUnknownKeys_EntriesOfAList_AreKnown_OthersAreNot()
    {
        var configuration = TempConf.Build(_temp.Write("x.rule.12 = a", "x.entry.3.qos = 1", "x.entry.3.colour = red", "x.rules.1 = a"));

        var errors = ConfBinder.CheckUnknownKeys(configuration, ConfBinder.KnownKeys(typeof(ListOptions)));

        Assert.Equal(["x.entry.3.colour", "x.rules.1"], errors.Select(e => e.Key));
    }

    [Fact]
    public void Render_Lists_DescribeTheirEntriesAndFields()
    {
        var text = ConfDocs.Render(typeof(ListOptions));

        Assert.Contains("# Entries x.rule.N, N a whole number from 1, apply in ascending N.\n# x.rule.1 = a b c\n", text, StringComparison.Ordinal);
        Assert.Contains("#   x.entry.N.qos: The QoS. Default: 1. Range: 0 to 2.\n", text, StringComparison.Ordinal);
        Assert.Contains("#   x.entry.N.timeout: A duration. Default: 5s.\n", text, StringComparison.Ordinal);
        // Nothing is set by default: every entry line is a comment.
        Assert.DoesNotContain("\nx.rule", text, StringComparison.Ordinal);
    }
}

using Broker.Abstractions.Configuration;
using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

/// <summary>
/// [ConfPrefix]: one options class of relative keys bound under several prefixes (the SQL auth plugins' shared keys
/// under <c>auth.mysql</c> and <c>auth.pgsql</c>), each subclass with its own defaults; every message names file, line
/// and the full key.
/// </summary>
public sealed class ConfPrefixTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    public abstract class BackendOptions : IValidatableOptions
    {
        protected BackendOptions(int port) => Port = port;

        [ConfKey("port", "The port.", Min = "1", Max = "65535")]
        public int Port { get; set; }

        [ConfKey("user", "The user.")]
        public string User { get; set; } = "";

        [ConfKey("ssl.verify", "Check the certificate.")]
        public bool SslVerify { get; set; } = true;

        [ConfList("tag", "A tag.")]
        public SortedDictionary<int, string> Tags { get; set; } = [];

        public virtual IEnumerable<(string Key, string Error)> Validate()
        {
            if (User == "nobody")
                yield return ("user", "is not a user");
        }
    }

    [ConfPrefix("auth.a")]
    public sealed class AOptions : BackendOptions
    {
        public AOptions()
            : base(3306)
        {
        }
    }

    [ConfPrefix("auth.b")]
    public sealed class BOptions : BackendOptions
    {
        public BOptions()
            : base(5432) => User = "root";

        [ConfKey("encoding", "Only b has it.")]
        public string Encoding { get; set; } = "utf8";
    }

    [ConfPrefix("p")]
    public sealed class PrefixedEntry
    {
        [ConfKey("x", "A field.")]
        public int X { get; set; }
    }

    public sealed class ListOfPrefixed
    {
        [ConfList("e", "An entry.")]
        public SortedDictionary<int, PrefixedEntry> Entries { get; set; } = [];
    }

    [Fact]
    public void Bind_SameClassUnderTwoPrefixes_EachReadsItsOwnKeys_WithItsOwnDefaults()
    {
        var configuration = TempConf.Build(_temp.Write("auth.a.user = alice", "auth.b.port = 6000", "auth.b.encoding = latin1", "auth.a.tag.2 = two"));

        var a = ConfBinder.Bind<AOptions>(configuration);
        var b = ConfBinder.Bind<BOptions>(configuration);

        Assert.Equal((3306, "alice", true), (a.Port, a.User, a.SslVerify));
        Assert.Equal(["two"], a.Tags.Values);
        Assert.Equal((6000, "root", "latin1"), (b.Port, b.User, b.Encoding));
        Assert.Empty(b.Tags);
    }

    [Theory]
    [InlineData("auth.b.port = 70000", "broker.conf:2: auth.b.port = \"70000\": must be at most 65535")]
    [InlineData("auth.b.ssl.verify = maybe", "broker.conf:2: auth.b.ssl.verify = \"maybe\": expected")]
    [InlineData("auth.b.user = nobody", "broker.conf:2: auth.b.user = \"nobody\": is not a user")]
    [InlineData("auth.b.tag.0 = x", "broker.conf:2: auth.b.tag.0 = \"x\": auth.b.tag.N: N must be a whole number from 1")]
    public void Bind_BadValue_NamesFileLineAndTheFullKey(string line, string expected)
    {
        var errors = ConfBinder.TryBind(TempConf.Build(_temp.Write("# b", line)), new BOptions());

        Assert.Contains(errors, e => e.ToString().Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_RelativeKeyOfAValueLeftAtItsDefault_IsNamedInFull()
    {
        var options = new BOptions { User = "nobody" };

        var error = Assert.Single(ConfBinder.TryBind(TempConf.Build(_temp.Write("# nothing")), options));

        Assert.Equal("auth.b.user", error.Key);
    }

    [Fact]
    public void KnownKeys_AreTheFullKeys_SoAnotherPrefixsKeyIsUnknown()
    {
        var configuration = TempConf.Build(_temp.Write("auth.a.port = 1", "auth.a.tag.3 = t", "auth.a.encoding = utf8", "auth.a.usr = x"));

        var errors = ConfBinder.CheckUnknownKeys(configuration, ConfBinder.KnownKeys(typeof(AOptions)));

        Assert.Equal(["auth.a.encoding", "auth.a.usr"], errors.Select(e => e.Key));
        Assert.Contains("did you mean auth.a.user?", errors[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Render_FullKeys_SharedKeysFirst_ThenTheSubclasssOwn_WithItsDefaults()
    {
        var text = ConfDocs.Render(typeof(BOptions));

        Assert.Contains("auth.b.port = 5432\n", text, StringComparison.Ordinal);
        Assert.Contains("auth.b.user = root\n", text, StringComparison.Ordinal);
        Assert.Contains("# Entries auth.b.tag.N, N a whole number from 1", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("auth.b.ssl.verify =", StringComparison.Ordinal) < text.IndexOf("auth.b.encoding =", StringComparison.Ordinal));
        Assert.Equal("3306", ConfDocs.Defaults(typeof(AOptions))["auth.a.port"]);
    }

    [Fact]
    public void Schema_EntryClassWithAPrefix_IsRefused()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ConfSchema.ListsFor(typeof(ListOfPrefixed)));

        Assert.Contains("[ConfPrefix]", ex.Message, StringComparison.Ordinal);
    }
}

using Broker.Abstractions.Configuration;
using Broker.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

/// <summary>
/// [ConfSection]: a group of keys written once as an options class (the auth plugins' <c>ssl.*</c>) and bound under a
/// section of several parents, its empty key being the section's own value (<c>auth.a.ssl = on</c>); every guarantee of
/// a plain key holds for the full key.
/// </summary>
public sealed class ConfSectionTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    public class TlsSection : IValidatableOptions
    {
        [ConfKey("", "Use TLS.")]
        public bool Enable { get; set; }

        [ConfKey("certfile", "The certificate.")]
        public string CertFile { get; set; } = "";

        [ConfKey("keyfile", "Its key.")]
        public string KeyFile { get; set; } = "";

        [ConfKey("handshake_timeout", "How long a handshake may take.", Unit = ConfUnit.Duration, Min = "1s", Max = "1m")]
        public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(5);

        [ConfKey("verify", "Check the certificate.")]
        public virtual bool Verify { get; set; } = true;

        public IEnumerable<(string Key, string Error)> Validate()
        {
            if (CertFile.Length > 0 != KeyFile.Length > 0)
                yield return ("certfile", "goes with keyfile");
        }
    }

    /// <summary>A plugin's own wording of a shared key, and a key of its own after the shared ones.</summary>
    public sealed class LdapTlsSection : TlsSection
    {
        [ConfKey("verify", "Check the certificate; it names the host.")]
        public override bool Verify { get; set; } = true;

        [ConfKey("starttls", "Upgrade after connecting.")]
        public bool StartTls { get; set; }
    }

    public sealed class Inner
    {
        [ConfKey("depth", "How deep.", Min = "1")]
        public int Depth { get; set; } = 1;
    }

    public sealed class Outer
    {
        [ConfKey("name", "A name.")]
        public string Name { get; set; } = "";

        [ConfSection("inner")]
        public Inner Inner { get; } = new();
    }

    public sealed class PlainOptions
    {
        [ConfKey("backend.server", "The server.")]
        public string Server { get; set; } = "localhost";

        [ConfSection("backend.ssl")]
        public TlsSection Ssl { get; set; } = new() { Verify = false };

        [ConfSection("backend.outer")]
        public Outer Outer { get; } = new();

        [ConfKey("backend.pool", "The pool.")]
        public int Pool { get; set; } = 8;
    }

    [ConfPrefix("auth.a")]
    public sealed class PrefixedOptions
    {
        [ConfKey("user", "The user.")]
        public string User { get; set; } = "";

        [ConfSection("ssl")]
        public LdapTlsSection Ssl { get; } = new();
    }

    /// <summary>Keys two backends share under the same names, declared once.</summary>
    public sealed class LoginSection : IValidatableOptions
    {
        [ConfKey("pool", "The pool.", Min = "1")]
        public int Pool { get; set; } = 8;

        [ConfKey("username", "The user.")]
        public string Username { get; set; } = "";

        public IEnumerable<(string Key, string Error)> Validate()
        {
            if (Username == "nobody")
                yield return ("username", "is not a user");
        }
    }

    [ConfPrefix("auth.b")]
    public sealed class UnnamedUnderAPrefix
    {
        [ConfKey("server", "The server.")]
        public string Server { get; set; } = "localhost";

        [ConfSection("")]
        public LoginSection Login { get; } = new() { Username = "root" };

        [ConfKey("encoding", "The encoding.")]
        public string Encoding { get; set; } = "utf8";
    }

    public sealed class UnnamedWithoutAPrefix
    {
        [ConfKey("pool_size", "Not the shared pool.")]
        public int PoolSize { get; set; }

        [ConfSection("")]
        public LoginSection Login { get; } = new();
    }

    public sealed class Entry
    {
        [ConfKey("topic", "A topic.")]
        public string Topic { get; set; } = "";

        [ConfSection("ssl")]
        public TlsSection Ssl { get; } = new();
    }

    public sealed class WithEntries
    {
        [ConfList("entry", "An entry.")]
        public SortedDictionary<int, Entry> Entries { get; set; } = [];
    }

    public sealed class SectionWithList
    {
        [ConfList("tag", "A tag.")]
        public SortedDictionary<int, string> Tags { get; set; } = [];
    }

    public sealed class BadSection
    {
        [ConfSection("tags")]
        public SectionWithList Tags { get; } = new();
    }

    public sealed class NullSection
    {
        [ConfSection("ssl")]
        public TlsSection? Ssl { get; set; }
    }

    public sealed class Clash
    {
        [ConfKey("ssl", "The switch, twice.")]
        public bool Ssl { get; set; }

        [ConfSection("ssl")]
        public TlsSection Tls { get; } = new();
    }

    [Fact]
    public void Bind_SectionKeysAndItsOwnValue_FillTheNestedObject()
    {
        var configuration = TempConf.Build(_temp.Write(
            "backend.ssl = on", "backend.ssl.certfile = /c.pem", "backend.ssl.keyfile = /k.pem", "backend.ssl.handshake_timeout = 10s",
            "backend.outer.name = o", "backend.outer.inner.depth = 3"));

        var options = ConfBinder.Bind<PlainOptions>(configuration);

        Assert.Equal((true, "/c.pem", "/k.pem", TimeSpan.FromSeconds(10)), (options.Ssl.Enable, options.Ssl.CertFile, options.Ssl.KeyFile, options.Ssl.HandshakeTimeout));
        Assert.Equal(("o", 3), (options.Outer.Name, options.Outer.Inner.Depth));
    }

    [Fact]
    public void Bind_KeysNotSet_KeepTheSectionsDefaults_IncludingThoseTheParentSets()
    {
        var options = ConfBinder.Bind<PlainOptions>(TempConf.Build(_temp.Write("backend.ssl.certfile = /c.pem", "backend.ssl.keyfile = /k.pem")));

        Assert.False(options.Ssl.Enable);
        Assert.False(options.Ssl.Verify);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Ssl.HandshakeTimeout);
        Assert.Equal(1, options.Outer.Inner.Depth);
    }

    [Fact]
    public void Bind_UnderAPrefix_AndFromTheEnvironment()
    {
        var configuration = TempConf.Build(_temp.Write("auth.a.ssl = true", "auth.a.ssl.starttls = on"),
            new Dictionary<string, string> { ["BROKER_AUTH__A__SSL__VERIFY"] = "false" });

        var options = ConfBinder.Bind<PrefixedOptions>(configuration);

        Assert.Equal((true, true, false), (options.Ssl.Enable, options.Ssl.StartTls, options.Ssl.Verify));
    }

    [Theory]
    [InlineData("backend.ssl = maybe", "broker.conf:2: backend.ssl = \"maybe\": expected")]
    [InlineData("backend.ssl.handshake_timeout = 2m", "broker.conf:2: backend.ssl.handshake_timeout = \"2m\": must be at most 1m")]
    [InlineData("backend.ssl.handshake_timeout = 0s", "broker.conf:2: backend.ssl.handshake_timeout = \"0s\": must be at least 1s")]
    [InlineData("backend.ssl.handshake_timeout = soon", "broker.conf:2: backend.ssl.handshake_timeout = \"soon\":")]
    [InlineData("backend.outer.inner.depth = 0", "broker.conf:2: backend.outer.inner.depth = \"0\": must be at least 1")]
    [InlineData("backend.ssl.certfile = /c.pem", "broker.conf:2: backend.ssl.certfile = \"/c.pem\": goes with keyfile")]
    public void Bind_BadValue_NamesFileLineAndTheFullKey(string line, string expected)
    {
        var errors = ConfBinder.TryBind(TempConf.Build(_temp.Write("# plain", line)), new PlainOptions());

        var error = Assert.Single(errors);
        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SectionUnderAPrefix_RelativeKeyOfAValueLeftAtItsDefault_IsNamedInFull()
    {
        var options = new PrefixedOptions();
        options.Ssl.KeyFile = "/k.pem";

        var error = Assert.Single(ConfBinder.TryBind(TempConf.Build(_temp.Write("# nothing")), options));

        Assert.Equal("auth.a.ssl.certfile", error.Key);
    }

    [Fact]
    public void Validate_SectionOfAListEntry_NamesTheEntrysFullKey()
    {
        var errors = ConfBinder.TryBind(TempConf.Build(_temp.Write("entry.2.topic = t", "entry.2.ssl.certfile = /c.pem")), new WithEntries());

        var error = Assert.Single(errors);
        Assert.Contains("broker.conf:2: entry.2.ssl.certfile = \"/c.pem\": goes with keyfile", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_ListEntryWithASection_BindsIt_AndKnowsItsFields()
    {
        var configuration = TempConf.Build(_temp.Write("entry.1.topic = t", "entry.1.ssl = on", "entry.1.ssl.verfy = off"));

        var errors = ConfBinder.TryBind(configuration, new WithEntries());

        var error = Assert.Single(errors);
        Assert.Contains("broker.conf:3: entry.1.ssl.verfy", error.ToString(), StringComparison.Ordinal);
        Assert.Contains("did you mean entry.1.ssl.verify?", error.ToString(), StringComparison.Ordinal);
        var options = ConfBinder.Bind<WithEntries>(TempConf.Build(_temp.Write("entry.1.topic = t", "entry.1.ssl = on")));
        Assert.True(options.Entries[1].Ssl.Enable);
    }

    [Fact]
    public void KnownKeys_AreTheSectionsFullKeys_SoAMisspeltOneIsUnknown()
    {
        var configuration = TempConf.Build(_temp.Write("auth.a.ssl = on", "auth.a.ssl.starttls = on", "auth.a.ssl.verfy = off", "auth.a.ssl.cacertfile = x"));

        var errors = ConfBinder.CheckUnknownKeys(configuration, ConfBinder.KnownKeys(typeof(PrefixedOptions)));

        Assert.Equal(["auth.a.ssl.verfy", "auth.a.ssl.cacertfile"], errors.Select(e => e.Key));
        Assert.Contains("broker.conf:3: auth.a.ssl.verfy", errors[0].ToString(), StringComparison.Ordinal);
        Assert.Contains("did you mean auth.a.ssl.verify?", errors[0].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Render_SectionKeysAtTheirPlace_WithTheDefaultsTheParentGives()
    {
        var text = ConfDocs.Render(typeof(PlainOptions));

        string[] order = ["backend.server = localhost\n", "backend.ssl = false\n", "backend.ssl.certfile = \"\"\n",
            "backend.ssl.handshake_timeout = 5s\n", "backend.ssl.verify = false\n", "backend.outer.name = \"\"\n", "backend.outer.inner.depth = 1\n",
            "backend.pool = 8\n"];
        var positions = order.Select(line => text.IndexOf(line, StringComparison.Ordinal)).ToArray();
        Assert.All(positions, p => Assert.True(p >= 0, text));
        Assert.Equal(positions.Order(), positions);
        Assert.Contains("# Range: 1s to 1m.\nbackend.ssl.handshake_timeout", text, StringComparison.Ordinal);
        Assert.Equal("false", ConfDocs.Defaults(typeof(PlainOptions))["backend.ssl.verify"]);
    }

    [Fact]
    public void Render_SubclassOfASection_SharedKeysFirst_OverrideKeepsItsPlaceAndWords()
    {
        var text = ConfDocs.Render(typeof(PrefixedOptions));

        Assert.Contains("# Check the certificate; it names the host.\nauth.a.ssl.verify = true\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("# Check the certificate.\n", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("auth.a.ssl =", StringComparison.Ordinal) < text.IndexOf("auth.a.ssl.certfile =", StringComparison.Ordinal));
        Assert.True(text.IndexOf("auth.a.ssl.verify =", StringComparison.Ordinal) < text.IndexOf("auth.a.ssl.starttls =", StringComparison.Ordinal));
    }

    [Fact]
    public void Bind_UnnamedSection_ItsKeysStandAtTheParentsLevel()
    {
        var configuration = TempConf.Build(_temp.Write("auth.b.pool = 3", "auth.b.server = db"),
            new Dictionary<string, string> { ["BROKER_AUTH__B__USERNAME"] = "alice" });

        var options = ConfBinder.Bind<UnnamedUnderAPrefix>(configuration);

        Assert.Equal(("db", 3, "alice"), (options.Server, options.Login.Pool, options.Login.Username));
        Assert.Equal(6, ConfBinder.Bind<UnnamedWithoutAPrefix>(TempConf.Build(_temp.Write("pool = 6"))).Login.Pool);
    }

    [Theory]
    [InlineData("auth.b.pool = 0", "broker.conf:2: auth.b.pool = \"0\": must be at least 1")]
    [InlineData("auth.b.username = nobody", "broker.conf:2: auth.b.username = \"nobody\": is not a user")]
    public void Bind_UnnamedSection_BadValue_NamesFileLineAndTheFullKey(string line, string expected)
    {
        var error = Assert.Single(ConfBinder.TryBind(TempConf.Build(_temp.Write("# prefixed", line)), new UnnamedUnderAPrefix()));

        Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
        var plain = Assert.Single(ConfBinder.TryBind(TempConf.Build(_temp.Write("username = nobody")), new UnnamedWithoutAPrefix()));
        Assert.Contains("broker.conf:1: username = \"nobody\": is not a user", plain.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void KnownKeysAndRender_UnnamedSection_AtItsPlace_WithTheDefaultsTheParentGives()
    {
        Assert.True(ConfBinder.KnownKeys(typeof(UnnamedUnderAPrefix)).SetEquals(["auth.b.server", "auth.b.pool", "auth.b.username", "auth.b.encoding"]));
        var text = ConfDocs.Render(typeof(UnnamedUnderAPrefix));
        string[] order = ["auth.b.server = localhost\n", "auth.b.pool = 8\n", "auth.b.username = root\n", "auth.b.encoding = utf8\n"];
        var positions = order.Select(line => text.IndexOf(line, StringComparison.Ordinal)).ToArray();
        Assert.All(positions, p => Assert.True(p >= 0, text));
        Assert.Equal(positions.Order(), positions);
    }

    [Fact]
    public void Schema_SectionWithAList_IsRefused()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ConfSchema.For(typeof(BadSection)));

        Assert.Contains("[ConfList] or [ConfMap]", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Schema_SectionsOwnValueAndAParentKeyOfTheSameName_AreBoundTwice()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ConfSchema.For(typeof(Clash)));

        Assert.Contains("key ssl is bound twice", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bind_NullSection_IsAProgrammingError()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ConfBinder.TryBind(TempConf.Build(_temp.Write("ssl = on")), new NullSection()));

        Assert.Contains("NullSection.Ssl is null", ex.Message, StringComparison.Ordinal);
    }
}

using Broker.Abstractions.Plugins;

namespace Broker.Plugins.Tests.Sdk;

/// <summary>
/// SDK 2.1's [ConfMap] for plugins: EMQX's named keys such as <c>auth.jwt.verify_claims.&lt;claim&gt; = value</c> beside
/// <c>auth.jwt.verify_claims = on</c>, bound as the host binds a plugin's .conf.
/// </summary>
public sealed class ConfMapTests
{
    public sealed class ClaimEntry
    {
        [ConfKey("", "The value the claim must have; %u and %c are the client's user name and client id.")]
        public string Value { get; set; } = "";

        [ConfKey("optional", "Whether a token without the claim passes.")]
        public bool Optional { get; set; }
    }

    public sealed class VerifyOptions
    {
        [ConfKey("auth.jwt.verify_claims", "Check the claims below.")]
        public bool VerifyClaims { get; set; }

        [ConfMap("auth.jwt.verify_claims", "A claim the token must carry, by name.")]
        public Dictionary<string, ClaimEntry> Claims { get; set; } = [];
    }

    [Fact]
    public void NamedEntries_BesideTheSectionsOwnValue()
    {
        var options = PluginConf.Bind<VerifyOptions>("auth_jwt",
            "auth.jwt.verify_claims = on",
            "auth.jwt.verify_claims.username = %u",
            "auth.jwt.verify_claims.tenant = acme",
            "auth.jwt.verify_claims.tenant.optional = true");

        Assert.True(options.VerifyClaims);
        Assert.Equal(["tenant", "username"], options.Claims.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("%u", options.Claims["username"].Value);
        Assert.False(options.Claims["username"].Optional);
        Assert.True(options.Claims["tenant"].Optional);
    }

    [Fact]
    public void UnknownFieldOfAnEntry_NamesFileLineAndKey()
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => PluginConf.Bind<VerifyOptions>("auth_jwt",
            "auth.jwt.verify_claims.username = %u",
            "auth.jwt.verify_claims.username.optinal = true"));

        Assert.Contains("auth_jwt.conf:2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("auth.jwt.verify_claims.username.optinal", ex.Message, StringComparison.Ordinal);
        Assert.Contains("did you mean", ex.Message, StringComparison.Ordinal);
    }
}

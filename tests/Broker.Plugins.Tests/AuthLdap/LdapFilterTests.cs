using Broker.Abstractions.Plugins;
using Broker.Plugins.AuthLdap;

namespace Broker.Plugins.Tests.AuthLdap;

/// <summary>The search auth_ldap sends: user names escaped (RFC 4515 in filters, RFC 4514 in DNs), EMQX 4's filters.</summary>
public sealed class LdapFilterTests
{
    [Theory]
    [InlineData("alice", "alice")]
    [InlineData("*)(uid=*", @"\2a\29\28uid=\2a")]
    [InlineData(@"a\b", @"a\5cb")]
    [InlineData("a\0b", @"a\00b")]
    [InlineData("é=ü,+", "é=ü,+")] // only the five are special in a filter value (RFC 4515 §3)
    public void FilterValue_EscapesTheFiveRfc4515Characters(string value, string escaped) =>
        Assert.Equal(escaped, LdapFilter.EscapeFilterValue(value));

    [Theory]
    [InlineData("alice", "alice")]
    [InlineData("a,ou=x", @"a\,ou\=x")]
    [InlineData(" #a+b ", @"\ #a\+b\ ")]
    [InlineData("#a", @"\#a")]
    [InlineData("a\"<>;\\", @"a\""\<\>\;\\")]
    public void DnValue_EscapesRfc4514Characters(string value, string escaped) =>
        Assert.Equal(escaped, LdapFilter.EscapeDnValue(value));

    [Fact]
    public void Default_ObjectClassAndUidUnderDeviceDn()
    {
        var filter = new LdapFilter(Bind("auth.ldap.device_dn = ou=devices,dc=example,dc=org"));

        Assert.Equal(@"(&(objectClass=mqttUser)(uid=\2a\29\28uid=\2a))", filter.For("*)(uid=*"));
        Assert.Equal("ou=devices,dc=example,dc=org", filter.BaseDn("alice"));
    }

    // EMQX 4's example order: each term's op joins it with the next, left to right.
    [Fact]
    public void Filters_JoinedLeftToRight_InNumberOrder_UserEscaped()
    {
        var options = Bind(
            "auth.ldap.custom_base_dn = ${username_attr}=${user},${device_dn}",
            "auth.ldap.device_dn = ou=d",
            "auth.ldap.filters.10.key = mail",
            "auth.ldap.filters.10.value = ${user}@example.org",
            "auth.ldap.filters.2.key = ${username_attr}",
            "auth.ldap.filters.2.value = ${user}",
            "auth.ldap.filters.2.op = or",
            "auth.ldap.filters.1.key = objectClass",
            "auth.ldap.filters.1.value = mqttUser",
            "auth.ldap.filters.1.op = and");
        var filter = new LdapFilter(options);

        Assert.Equal(@"(|(&(objectClass=mqttUser)(uid=a\2a))(mail=a\2a@example.org))", filter.For("a*"));
        Assert.Equal(@"uid=a\,b,ou=d", filter.BaseDn("a,b"));
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void Filters_MissingOpOrBadOp_RefusedNamingTheKeys()
    {
        var error = Assert.Throws<PluginConfigurationException>(() => Bind("auth.ldap.filters.1.key = uid", "auth.ldap.filters.1.value = ${user}",
            "auth.ldap.filters.2.key = objectClass", "auth.ldap.filters.2.value = mqttUser", "auth.ldap.filters.2.op = xor"));

        Assert.Contains("auth.ldap.filters.2.op = \"xor\": 'xor': expected and or or", error.Message, StringComparison.Ordinal);
        Assert.Contains("every term but the last needs an op", error.Message, StringComparison.Ordinal);
    }

    private static AuthLdapOptions Bind(params string[] lines) => PluginConf.Bind<AuthLdapOptions>("auth_ldap", lines);
}

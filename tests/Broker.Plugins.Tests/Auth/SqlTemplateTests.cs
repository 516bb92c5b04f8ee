using System.Net;
using Broker.Abstractions;
using Broker.Plugins.Auth;

namespace Broker.Plugins.Tests.Auth;

/// <summary>Placeholders become parameters, never SQL text (issue 20 item 2).</summary>
public sealed class SqlTemplateTests
{
    private static readonly ClientInfo Client = new()
    {
        ClientId = "dev-1",
        Username = "' or '1'='1",
        RemoteEndPoint = new IPEndPoint(IPAddress.Parse("::ffff:10.0.0.7"), 5000),
        CertificateCommonName = "cn-1",
        CertificateSubject = "CN=cn-1, O=Acme",
    };

    [Fact]
    public void EmqxDefaultAuthQuery_QuotedPlaceholderBecomesOneParameter()
    {
        var sql = SqlTemplate.Parse("select password from mqtt_user where username = '%u' limit 1");

        Assert.Equal("select password from mqtt_user where username = @p0 limit 1", sql.Text);
        Assert.Equal(["' or '1'='1"], sql.Values(Client));
    }

    [Fact]
    public void EmqxDefaultAclQuery_KeepsLiteralsAndParametersEveryPlaceholder()
    {
        var sql = SqlTemplate.Parse("select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'");

        Assert.Equal("select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = @p0 or username = @p1 or username = '$all' or clientid = @p2", sql.Text);
        Assert.Equal(["10.0.0.7", "' or '1'='1", "dev-1"], sql.Values(Client));
    }

    [Fact]
    public void UnquotedAndMixedLiterals_CertificatePlaceholders_AndPercentEscape()
    {
        var sql = SqlTemplate.Parse("select 1 from t where cn = %C and dn = \"%d\" and tag = 'dev-%c' and pct like '10%%' and x = 'it''s'");

        Assert.Equal("select 1 from t where cn = @p0 and dn = @p1 and tag = @p2 and pct like '10%%' and x = 'it''s'", sql.Text);
        Assert.Equal(["cn-1", "CN=cn-1, O=Acme", "dev-dev-1"], sql.Values(Client));
    }

    [Fact]
    public void MissingValue_IsNull_SoItMatchesNoRow()
    {
        var sql = SqlTemplate.Parse("select password from mqtt_user where username = '%u'");
        Assert.Equal([null], sql.Values(new ClientInfo { ClientId = "anonymous" }));
    }

    [Fact]
    public void UnclosedQuote_IsAConfigurationError()
    {
        Assert.Throws<FormatException>(() => SqlTemplate.Parse("select 1 from t where a = '%u"));
    }
}

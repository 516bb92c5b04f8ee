using Broker.Abstractions.Plugins;

namespace Broker.Plugins.Tests.Auth;

/// <summary>The auth plugins' .conf keys as EMQX 4 writes them, and bad values named by file, line and key.</summary>
public sealed class AuthOptionsTests
{
    [Fact]
    public void Mongo_AclSelector_UnnumberedAndNumbered_InOrder()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>("auth_mongo",
            "auth.mongo.acl_query.selector = username=%u",
            "auth.mongo.acl_query.selector.2 = clientid=%c",
            "auth.mongo.acl_query.selector.1 = username=$all");

        Assert.Equal(["username=%u", "username=$all", "clientid=%c"], options.AclSelectors);
    }

    // EMQX 4.4's TLS keys: `ssl = on` beside the `ssl.*` keys it turns on.
    [Fact]
    public void Redis_SslOnWithItsKeys_AsEmqxWritesThem()
    {
        var options = PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>("auth_redis",
            "auth.redis.ssl = on",
            "auth.redis.ssl.cacertfile = /etc/ca.pem",
            "auth.redis.ssl.verify = true",
            "auth.redis.ssl.server_name_indication = myredis");

        Assert.True(options.SslEnable);
        Assert.Equal("/etc/ca.pem", options.SslCaCertFile);
        Assert.Equal("myredis", options.SslServerName);
    }

    // One SqlAuthOptions under two prefixes: each plugin reads only its own keys, with its backend's defaults.
    [Fact]
    public void Sql_SharedKeysUnderEachPrefix_WithEachBackendsDefaults()
    {
        string[] lines = ["auth.mysql.server = db:3307", "auth.mysql.pool = 4", "auth.mysql.on_error = ignore", "auth.mysql.ssl.verify = off"];
        var mysql = PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>("auth_mysql", lines);
        var pgsql = PluginConf.Bind<global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions>("auth_pgsql", "auth.pgsql.server = pg", "auth.pgsql.encoding = latin1");

        Assert.Equal((("db", 3307), 4, global::Broker.Plugins.Auth.OnError.Ignore, false, ""), (mysql.HostAndPort(), mysql.Connection.Pool, mysql.OnError, mysql.SslVerify, mysql.Connection.Username));
        Assert.Equal((("pg", 5432), 8, global::Broker.Plugins.Auth.OnError.Deny, true, "root", "latin1"),
            (pgsql.HostAndPort(), pgsql.Connection.Pool, pgsql.OnError, pgsql.SslVerify, pgsql.Connection.Username, pgsql.Encoding));
        Assert.Equal("127.0.0.1:3306", new global::Broker.Plugins.AuthMysql.AuthMysqlOptions().Server);
        Assert.Equal("127.0.0.1:5432", new global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions().Server);
    }

    // The other backend's keys, and PostgreSQL's encoding, are unknown to auth_mysql: a file copied from one to the other is caught.
    [Theory]
    [InlineData("auth.pgsql.server = 127.0.0.1", "auth_mysql.conf:1: auth.pgsql.server")]
    [InlineData("auth.mysql.encoding = utf8", "auth_mysql.conf:1: auth.mysql.encoding")]
    public void Mysql_KeysItDoesNotHave_AreUnknown(string line, string expected)
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>("auth_mysql", line));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.Contains("unknown key", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("auth_redis", "auth.redis.password_hash = sha1", "auth_redis.conf:1", "auth.redis.password_hash")]
    [InlineData("auth_mysql", "auth.mysql.auth_query = select password from mqtt_user where username = '%u", "auth_mysql.conf:1", "unclosed")]
    [InlineData("auth_pgsql", "auth.pgsql.password_hash = pbkdf2,sha256", "auth_pgsql.conf:1", "pbkdf2,<macfun>")]
    [InlineData("auth_mongo", "auth.mongo.auth_query.selector = username", "auth_mongo.conf:1", "field=value")]
    [InlineData("auth_redis", "auth.redis.on_error = allow", "auth_redis.conf:1", "deny, ignore")]
    [InlineData("auth_pgsql", "auth.pgsql.pool = 0", "auth_pgsql.conf:1: auth.pgsql.pool = \"0\": must be at least 1", "")]
    [InlineData("auth_pgsql", "auth.pgsql.query_timeout = soon", "auth_pgsql.conf:1: auth.pgsql.query_timeout = \"soon\"", "")]
    [InlineData("auth_mysql", "auth.mysql.server = db:99999", "auth_mysql.conf:1: auth.mysql.server = \"db:99999\": expected host:port", "")]
    [InlineData("auth_pgsql", "auth.pgsql.acl_query = select '%u", "auth_pgsql.conf:1: auth.pgsql.acl_query", "unclosed")]
    public void BadValue_NamesFileLineAndKey(string plugin, string line, string where, string what)
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => plugin switch
        {
            "auth_redis" => (object)PluginConf.Bind<global::Broker.Plugins.AuthRedis.AuthRedisOptions>(plugin, line),
            "auth_mysql" => PluginConf.Bind<global::Broker.Plugins.AuthMysql.AuthMysqlOptions>(plugin, line),
            "auth_pgsql" => PluginConf.Bind<global::Broker.Plugins.AuthPgsql.AuthPgsqlOptions>(plugin, line),
            _ => PluginConf.Bind<global::Broker.Plugins.AuthMongo.AuthMongoOptions>(plugin, line),
        });
        Assert.Contains(where, ex.Message, StringComparison.Ordinal);
        Assert.Contains(what, ex.Message, StringComparison.Ordinal);
    }
}

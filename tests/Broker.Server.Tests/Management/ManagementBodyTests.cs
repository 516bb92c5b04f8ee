using System.Text;
using Broker.Server.Management;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Server.Tests.Management;

public sealed class ManagementBodyTests
{
    private static HttpContext Request(string body)
    {
        var services = new ServiceCollection().AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance).AddLogging().BuildServiceProvider();
        var context = new DefaultHttpContext { RequestServices = services };
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static async Task<(int Status, string Body)> ExecuteAsync(IResult result, HttpContext context)
    {
        await result.ExecuteAsync(context);
        return (context.Response.StatusCode, Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray()));
    }

    [Theory]
    [InlineData("{not json", 109)]
    [InlineData("{\"code\":\"zero\"}", 109)]
    [InlineData("null", 107)]
    public async Task ReadJson_BadBody_Is400WithEmqxCode(string body, int code)
    {
        var context = Request(body);
        var (value, error) = await ManagementApi.ReadJsonAsync(context.Request, ManagementJsonContext.Default.ApiOk);
        Assert.Null(value);
        var (status, text) = await ExecuteAsync(error!, context);
        Assert.Equal(400, status);
        Assert.Contains($"\"code\":{code}", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadJson_GoodBody_IsRead()
    {
        var (value, error) = await ManagementApi.ReadJsonAsync(Request("{\"code\":5}").Request, ManagementJsonContext.Default.ApiOk);
        Assert.Null(error);
        Assert.Equal(5, value!.Code);
    }
}

import chainrule as cr


def test_backward_of_a_small_expression():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x + 3 * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]

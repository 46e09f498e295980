//! `Sequential`.

use ingot_core::{Result, Tensor};

use crate::Module;

/// Modules applied one after another (`torch.nn.Sequential`); children are
/// named `"0"`, `"1"`, ... so keys read `0.weight`, `2.bias`.
///
/// ```
/// use ingot::nn::{self, Module};
/// use ingot::{DType, Device, Tensor};
/// let dev = Device::cpu();
/// let mlp = nn::Sequential::new()
///     .add(nn::Linear::new(784, 256, &dev)?)
///     .add(nn::ReLU::new())
///     .add(nn::Linear::new(256, 10, &dev)?);
/// let y = mlp.forward(&Tensor::zeros(&[32, 784], DType::F32, &dev)?)?;
/// assert_eq!(y.shape(), &[32, 10]);
/// assert_eq!(mlp.state_dict().keys(), vec!["0.weight", "0.bias", "2.weight", "2.bias"]);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    /// An empty sequence (the identity).
    ///
    /// ```
    /// assert!(ingot::nn::Sequential::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module, builder style.
    ///
    /// ```
    /// let s = ingot::nn::Sequential::new().add(ingot::nn::ReLU::new());
    /// assert_eq!(s.len(), 1);
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, module: impl Module + 'static) -> Self {
        self.layers.push(Box::new(module));
        self
    }

    /// Appends a boxed module.
    ///
    /// ```
    /// let mut s = ingot::nn::Sequential::new();
    /// s.push(Box::new(ingot::nn::Tanh::new()));
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn push(&mut self, module: Box<dyn Module>) {
        self.layers.push(module);
    }

    /// Number of modules.
    ///
    /// ```
    /// assert_eq!(ingot::nn::Sequential::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no modules.
    ///
    /// ```
    /// assert!(ingot::nn::Sequential::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The module at `index`.
    ///
    /// ```
    /// let s = ingot::nn::Sequential::new().add(ingot::nn::ReLU::new());
    /// assert_eq!(s.get(0).unwrap().type_name(), "ReLU");
    /// ```
    pub fn get(&self, index: usize) -> Option<&dyn Module> {
        self.layers.get(index).map(|m| m.as_ref())
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y)
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.layers
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.as_ref()))
            .collect()
    }
    fn type_name(&self) -> String {
        "Sequential".into()
    }
}
